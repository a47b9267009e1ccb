#include "vpet/image/resample.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "vpet/error.h"

namespace vpet::image {

namespace {

// Pillow accumulates in 32-bit integers with 22 fractional bits: 8 bits of sample and
// 2 bits of headroom for the negative lobes of bicubic.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Keys' cubic convolution with a = -0.5, as in Pillow.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Filter {
  double (*weight)(double);
  double support;
};

Filter filter_for(Interp interp) {
  switch (interp) {
    case Interp::bilinear:
      return {bilinear_filter, 1.0};
    case Interp::bicubic:
      return {bicubic_filter, 2.0};
  }
  throw Error("unknown interpolation");
}

// For each output position along one axis: the first input index, how many inputs
// contribute, and their fixed-point weights (ksize slots per output, unused ones zero).
struct Kernel {
  int ksize;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc, step for step: the doubles are
// computed in the same order so that rounding to fixed point lands on the same integers.
Kernel make_kernel(int in_size, int out_size, const Filter& filter) {
  // Pillow passes the source box as floats; the box here is always (0, in_size).
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;

  Kernel kernel;
  kernel.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  kernel.first.resize(out_size);
  kernel.count.resize(out_size);
  kernel.weights.assign(static_cast<size_t>(out_size) * kernel.ksize, 0);
  std::vector<double> w(kernel.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = filter.weight((x + xmin - center + 0.5) * ss);
      total += w[x];
    }
    int32_t* k = &kernel.weights[static_cast<size_t>(xx) * kernel.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double normalised = total != 0.0 ? w[x] / total : w[x];
      // Round half away from zero, as Pillow's (int)(+-0.5 + w * 2^22).
      const double fixed = normalised * (1 << kPrecisionBits);
      k[x] = static_cast<int32_t>(normalised < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    kernel.first[xx] = xmin;
    kernel.count[xx] = xmax;
  }
  return kernel;
}

uint8_t clip8(int32_t sum) {
  if (sum >= (1 << kPrecisionBits << 8)) return 255;
  if (sum <= 0) return 0;
  return static_cast<uint8_t>(sum >> kPrecisionBits);
}

// Resamples rows [row_offset, row_offset + out.height) of `in` along x.
void resample_horizontal(const Image& in, int row_offset, const Kernel& kernel, Image& out) {
  const int channels = in.channels;
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* row = &in.pixels[static_cast<size_t>(y + row_offset) * in.width * channels];
    uint8_t* dst = &out.pixels[static_cast<size_t>(y) * out.width * channels];
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &kernel.weights[static_cast<size_t>(xx) * kernel.ksize];
      const uint8_t* src = row + static_cast<size_t>(kernel.first[xx]) * channels;
      for (int c = 0; c < channels; ++c) {
        int32_t sum = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < kernel.count[xx]; ++x) sum += src[x * channels + c] * k[x];
        dst[xx * channels + c] = clip8(sum);
      }
    }
  }
}

// Resamples along y; `kernel.first` indexes rows of `in` after subtracting row_offset.
void resample_vertical(const Image& in, int row_offset, const Kernel& kernel, Image& out) {
  const size_t stride = static_cast<size_t>(in.width) * in.channels;
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &kernel.weights[static_cast<size_t>(yy) * kernel.ksize];
    const uint8_t* src = &in.pixels[(kernel.first[yy] - row_offset) * stride];
    uint8_t* dst = &out.pixels[yy * stride];
    for (size_t i = 0; i < stride; ++i) {
      int32_t sum = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < kernel.count[yy]; ++y) sum += src[y * stride + i] * k[y];
      dst[i] = clip8(sum);
    }
  }
}

}  // namespace

std::string to_string(Interp interp) {
  switch (interp) {
    case Interp::bilinear:
      return "bilinear";
    case Interp::bicubic:
      return "bicubic";
  }
  throw Error("unknown interpolation");
}

Image resize(const Image& image, int out_width, int out_height, Interp interp) {
  if (out_width < 1 || out_height < 1)
    throw Error("resize: output size must be positive, got " + std::to_string(out_width) + "x" +
                std::to_string(out_height));
  if (out_width == image.width && out_height == image.height) return image;

  const Filter filter = filter_for(interp);
  const Kernel horizontal = make_kernel(image.width, out_width, filter);
  const Kernel vertical = make_kernel(image.height, out_height, filter);
  // Only the source rows the vertical pass reads go through the horizontal pass.
  const int first_row = vertical.first.front();
  const int last_row = vertical.first.back() + vertical.count.back();

  // Separable, horizontal first, each pass only when its axis changes, like Pillow:
  // the order and the intermediate rounding to 8 bits are part of the result.
  const bool need_vertical = out_height != image.height;
  if (out_width == image.width) {
    Image out = make_image(out_width, out_height, image.channels);
    resample_vertical(image, 0, vertical, out);
    return out;
  }
  Image rows =
      make_image(out_width, need_vertical ? last_row - first_row : image.height, image.channels);
  resample_horizontal(image, need_vertical ? first_row : 0, horizontal, rows);
  if (!need_vertical) return rows;
  Image out = make_image(out_width, out_height, image.channels);
  resample_vertical(rows, first_row, vertical, out);
  return out;
}

}  // namespace vpet::image
