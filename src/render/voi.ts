/**
 * From stored sample values to 8-bit grey: the modality transform (Rescale Slope/Intercept), the VOI
 * window (PS3.3 C.11.2.1.2) and MONOCHROME1's inversion.
 */

/** A window as DICOM states it. */
export interface Window {
  center: number;
  width: number;
  /** `LINEAR` (DICOM's default, with its half-unit offsets), `LINEAR_EXACT` or `SIGMOID`. */
  fn: string;
}

/**
 * The window for a render: the caller's `windowmin..windowmax` (mapped exactly, min → 0 and max → 255,
 * so centre = (min + max) / 2 and width = max − min), else the file's WindowCenter/Width, else the
 * pixels' range.
 */
export function chooseWindow(
  requested: { min: number; max: number } | undefined,
  fromFile: { center: number; width: number; fn: string } | undefined,
  range: { min: number; max: number },
): Window {
  if (requested)
    return {
      center: (requested.min + requested.max) / 2,
      width: requested.max - requested.min,
      fn: 'LINEAR_EXACT',
    };
  if (fromFile) return fromFile;
  const width = range.max - range.min;
  // A flat image: any window shows it as one grey; centre it so the value maps to mid-grey.
  if (width <= 0) return { center: range.min, width: 1, fn: 'LINEAR_EXACT' };
  return { center: (range.min + range.max) / 2, width, fn: 'LINEAR_EXACT' };
}

/**
 * A function from a modality value to 0..255 for the window. PS3.3 C.11.2.1.2: LINEAR works on
 * `center − 0.5` and `width − 1`; LINEAR_EXACT on the values as given; SIGMOID is the logistic curve.
 */
export function windowFunction(w: Window): (x: number) => number {
  if (w.fn === 'SIGMOID') return (x) => 255 / (1 + Math.exp((-4 * (x - w.center)) / w.width));
  if (w.fn === 'LINEAR_EXACT') {
    const low = w.center - w.width / 2;
    const high = w.center + w.width / 2;
    return (x) => (x <= low ? 0 : x > high ? 255 : ((x - w.center) / w.width + 0.5) * 255);
  }
  const c = w.center - 0.5;
  const width = Math.max(w.width - 1, 0);
  const low = c - width / 2;
  const high = c + width / 2;
  return (x) => (x <= low ? 0 : x > high ? 255 : width === 0 ? 255 : ((x - c) / width + 0.5) * 255);
}

/** Writes the grey level of every value into `out`; MONOCHROME1 inverts (low values are white). */
export function applyWindow(
  values: ArrayLike<number>,
  w: Window,
  invert: boolean,
  out: Uint8Array,
): Uint8Array {
  const f = windowFunction(w);
  for (let i = 0; i < values.length; i++) {
    const y = Math.round(f(values[i]));
    out[i] = invert ? 255 - y : y;
  }
  return out;
}
