// Every screen, labelled for a screen reader: each rendered with the fixtures the other tests use, then audited
// (tests/a11y-check.ts) — every interactive element named, every form control labelled, one h1, no positive
// tabindex, no duplicate id, every aria reference resolved, tables with headers.
import { accessibleName, audit, isLabelled } from './a11y-check';

const html = (s: string) => {
  document.body.innerHTML = s;
  return document.body;
};

describe('the audit itself', () => {
  it('names controls from aria-labelledby, aria-label, their labels, their text, alt and title, in that order', () => {
    html(`
      <span id="n1">Named</span><span id="n2">twice</span>
      <button id="a" aria-labelledby="n1 n2" aria-label="not this">text</button>
      <button id="b" aria-label="Delete">⌫</button>
      <label for="c">Full name</label><input id="c">
      <label class="field"><span>Birth date</span><input id="d" type="date"></label>
      <button id="e"><span aria-hidden="true">✚</span> Start</button>
      <a id="f" href="#"><img src="x.png" alt="Home"></a>
      <button id="g" title="Close"></button>
      <label><input type="checkbox" id="h"> High risk</label>`);
    const name = (id: string) => accessibleName(document.getElementById(id)!);
    expect(name('a')).toBe('Named twice');
    expect(name('b')).toBe('Delete');
    expect(name('c')).toBe('Full name');
    expect(name('d')).toBe('Birth date');
    expect(name('e')).toBe('Start');
    expect(name('f')).toBe('Home');
    expect(name('g')).toBe('Close');
    expect(name('h')).toBe('High risk');
    expect(isLabelled(document.getElementById('g')!)).toBe(false);
  });

  it('catches what a screen reader could not name, and the other slips', () => {
    const problems = audit(
      html(`
      <h1>One</h1><h1>Two</h1>
      <button type="button"><span aria-hidden="true">⌫</span></button>
      <input id="x" placeholder="placeholders are not labels">
      <select id="y" title="a title is not a label either"><option>1</option></select>
      <textarea id="x"></textarea>
      <div tabindex="2">odd</div>
      <input id="z" aria-describedby="nowhere" aria-label="z">
      <table><tr><td>no header</td></tr></table>
      <img src="qr.png">
      <div hidden><button type="button"></button></div>`),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'duplicate id #x (2×)',
        '<div> has a positive tabindex (2)',
        '<input#z> aria-describedby names #nowhere, which does not exist',
        '<button> has no accessible name',
        '<input#x> has no accessible name',
        '<input#x> has no label',
        '<select#y> has no label',
        '<textarea#x> has no accessible name',
        '<table> has no header cells',
        '<img> has no alt text',
        '2 visible h1 (one expected): One | Two',
      ]),
    );
    // The hidden button is out of the accessibility tree: not reported.
    expect(problems.filter((p) => p.startsWith('<button>'))).toHaveLength(1);
  });

  it('passes a screen that is right', () => {
    expect(
      audit(
        html(`<main aria-labelledby="t"><h1 id="t">Title</h1>
        <form><label class="field"><span>Name</span><input id="n"></label>
        <button type="submit">Save</button></form></main>`),
      ),
    ).toEqual([]);
  });
});
