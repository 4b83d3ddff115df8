// What every screen gets from the app: who the kiosk is, the patient (while the card is in), and the way to run
// a core call with the progress indicator, the error notice and the transaction line.
import type { AppError, KioskInfo, PatientView, StatusView, TxView } from './types';

export interface Ctx {
  info: KioskInfo;
  status: StatusView | null;
  patient: PatientView | null;
  /** Runs a core call: progress shown meanwhile (`write`: "confirming on chain"), errors shown as a notice —
   * unless `handle` takes the error (returns true), for a screen that shows it in place. */
  run<T>(call: () => Promise<T>, write?: boolean, handle?: (e: AppError) => boolean): Promise<T | undefined>;
  /** Shows the outcome of a write (hash, block, explorer link, or "saved, will be sent"). */
  showTx(tx: TxView | TxView[]): void;
  /** Shows a notice (info or error) above the screen. */
  notify(text: string, kind?: 'info' | 'error'): void;
  /** Ends the visit: back to "insert card". */
  endVisit(): void;
  /** The token's symbol and decimals, for amounts. */
  token: { symbol: string; decimals: number };
}
