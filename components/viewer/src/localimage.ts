// A grayscale local image in Cornerstone's cache whose value range is already known.
//
// `imageLoader.createAndCacheLocalImage` (Cornerstone 5.14, loaders/imageLoader.js) scans
// every value on the page's main thread for the image's min and max: 13.6M values, 20-75 ms
// per 4096x3328 mammogram on this machine, for four images at once while the page draws.
// The full-resolution workers (fullres.ts) scan the values as they arrive instead, off the
// main thread, and the image is made here as Cornerstone makes it (the same metadata, voxel
// manager and fields), without the second scan. Uint16 grayscale only.
import * as cs from "@cornerstonejs/core";

export interface LocalImage {
  values: Uint16Array;
  rows: number;
  cols: number;
  spacing: [number, number]; // mm per pixel (column, row), as createAndCacheLocalImage's
  origin: cs.Types.Point3;
  min: number;
  max: number;
}

/** The min and max of `values` (min > max when empty). */
export function range(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Make and cache the image `id` (createAndCacheLocalImage's image, min/max as given). */
export function cacheLocalImage(id: string, img: LocalImage): cs.Types.IImage {
  const { values, rows, cols, spacing, origin } = img;
  if (values.length !== rows * cols) {
    throw new Error(`local image ${id}: ${values.length} values, expected ${rows}x${cols}`);
  }
  const [columnPixelSpacing, rowPixelSpacing] = spacing;
  const imagePlaneModule = {
    frameOfReferenceUID: undefined,
    rows,
    columns: cols,
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    rowCosines: [1, 0, 0],
    columnCosines: [0, 1, 0],
    imagePositionPatient: origin,
    pixelSpacing: [rowPixelSpacing, columnPixelSpacing],
    rowPixelSpacing,
    columnPixelSpacing,
  };
  const imagePixelModule = {
    samplesPerPixel: 1,
    photometricInterpretation: "MONOCHROME2",
    rows,
    columns: cols,
    bitsAllocated: 16,
    bitsStored: 16,
    highBit: 15,
  };
  const provider = cs.utilities.genericMetadataProvider;
  provider.add(id, { type: cs.Enums.MetadataModules.IMAGE_PLANE, metadata: imagePlaneModule });
  provider.add(id, { type: cs.Enums.MetadataModules.IMAGE_PIXEL, metadata: imagePixelModule });
  const voxelManager = cs.utilities.VoxelManager.createImageVoxelManager({
    height: rows,
    width: cols,
    numberOfComponents: 1,
    scalarData: values,
    id,
  });
  const image = {
    imageId: id,
    intercept: 0,
    windowCenter: 0,
    windowWidth: 0,
    color: false,
    numberOfComponents: 1,
    dataType: undefined,
    slope: 1,
    minPixelValue: img.min,
    maxPixelValue: img.max,
    rows,
    columns: cols,
    getCanvas: undefined,
    height: rows,
    width: cols,
    rgba: undefined,
    columnPixelSpacing,
    rowPixelSpacing,
    FrameOfReferenceUID: undefined,
    invert: false,
    getPixelData: () => voxelManager.getScalarData(),
    voxelManager,
    sizeInBytes: values.byteLength,
    referencedImageId: undefined,
  } as unknown as cs.Types.IImage;
  cs.cache.putImageSync(id, image);
  return image;
}
