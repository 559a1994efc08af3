/** The smallest real images of each accepted kind, and something that only pretends to be one. */
export const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);
export const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');
export const BMP = Buffer.concat([Buffer.from('424d', 'hex'), Buffer.alloc(60)]);
export const NOT_AN_IMAGE = Buffer.from('GIF89a pretending to be a png');
