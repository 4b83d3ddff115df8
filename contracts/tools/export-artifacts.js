#!/usr/bin/env node
// Copies {abi, bytecode} of the deployable contracts from forge's out/ into artifacts/, which is committed so
// that `cargo build` needs no node. `--check` fails (exit 1) when the committed artifacts are stale.
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const names = ['PatientSmartCard', 'HospitalRecord', 'PharmacyAccess', 'InsuranceProvider', 'TestStablecoin'];
const check = process.argv.includes('--check');
let stale = [];
fs.mkdirSync(path.join(root, 'artifacts'), { recursive: true });
for (const n of names) {
  const built = JSON.parse(fs.readFileSync(path.join(root, 'out', `${n}.sol`, `${n}.json`), 'utf8'));
  const art = { contractName: n, abi: built.abi, bytecode: built.bytecode.object, deployedBytecode: built.deployedBytecode.object };
  const text = JSON.stringify(art, null, 1) + '\n';
  const file = path.join(root, 'artifacts', `${n}.json`);
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (old !== text) {
    stale.push(n);
    if (!check) fs.writeFileSync(file, text);
  }
}
if (check && stale.length) {
  console.error(`stale contract artifacts: ${stale.join(', ')} — run: cd contracts && npx forge build && node tools/export-artifacts.js`);
  process.exit(1);
}
console.log(check ? 'contract artifacts are fresh' : `artifacts written (${stale.length} changed)`);
