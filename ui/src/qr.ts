// The recovery QR code drawn as SVG from the modules the shell sends (carekiosk-letter's `qr_modules`): one path,
// a white quiet zone of 4 modules, crisp edges so a scanner reads it off the screen or the printed page.

const SVG = 'http://www.w3.org/2000/svg';
export const QUIET_ZONE = 4;

/** The SVG path of the dark modules: one rectangle per horizontal run of dark modules in a row. */
export function qrPath(width: number, modules: string): string {
  if (width <= 0 || modules.length !== width * width) throw new Error('QR modules do not make a square');
  const parts: string[] = [];
  for (let y = 0; y < width; y++) {
    let x = 0;
    while (x < width) {
      if (modules[y * width + x] !== '1') {
        x++;
        continue;
      }
      const start = x;
      while (x < width && modules[y * width + x] === '1') x++;
      parts.push(`M${start} ${y}h${x - start}v1h${start - x}z`);
    }
  }
  return parts.join('');
}

/** The QR code as an `<svg role="img">` named by `label`. */
export function qrSvg(width: number, modules: string, label: string, id: string): SVGSVGElement {
  const size = width + 2 * QUIET_ZONE;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `${-QUIET_ZONE} ${-QUIET_ZONE} ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('id', id);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('data-width', String(width));
  const bg = document.createElementNS(SVG, 'rect');
  for (const [k, v] of [['x', -QUIET_ZONE], ['y', -QUIET_ZONE], ['width', size], ['height', size], ['fill', '#fff']] as const) {
    bg.setAttribute(k, String(v));
  }
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', qrPath(width, modules));
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return svg;
}
