// The geometric operations of torchvision's transforms on PIL images, shared by
// the evaluation preprocessing (preprocess.h) and the training augmentation
// (augment.h): each gives the pixels torchvision gives, not an approximation.
#pragma once

#include "vpet/image/image.h"
#include "vpet/image/resample.h"

namespace vpet::image {

// torchvision's Resize(int): the shorter side becomes `short_side`, the
// longer one int(short_side * long / short) (a double division, then truncation).
Image resize_shorter_side(const Image& image, int short_side, Interp interp);

// The rows top..top+height−1 and columns left..left+width−1 (PIL's
// crop((left, top, left + width, top + height)) within the image). The box
// must lie inside the image.
Image crop(const Image& image, int top, int left, int height, int width);

// torchvision's CenterCrop(size) of an image at least size x size: offsets
// round((H − size) / 2.0) and round((W − size) / 2.0), halves to even.
Image center_crop(const Image& image, int size);

// torchvision's hflip: columns mirrored.
Image flip_horizontal(const Image& image);

}  // namespace vpet::image
