import sharp from 'sharp';

/**
 * Decodes a PNG to its samples as stored: 1 channel for greyscale, 3 for RGB (sharp would otherwise hand
 * back greyscale as sRGB). Throws when the bytes are not a PNG.
 */
export async function decodePng(
  png: Buffer,
): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  if (png.toString('latin1', 1, 4) !== 'PNG') throw new Error('not a PNG');
  const colourType = png[25]; // IHDR: 0 greyscale, 2 RGB
  const image = sharp(png);
  const { data, info } = await (colourType === 0 ? image.toColourspace('b-w') : image)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}
