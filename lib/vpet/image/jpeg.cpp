#include "vpet/image/jpeg.h"

#include <turbojpeg.h>

#include <memory>

#include "vpet/error.h"

namespace vpet::image {

namespace {

using Decompressor = std::unique_ptr<void, int (*)(tjhandle)>;

std::string libjpeg_message(tjhandle handle) {
  return std::string("libjpeg: ") + tjGetErrorStr2(handle);
}

// Pillow decodes every 4-component JPEG as "CMYK;I": it assumes Adobe's inverted storage
// whatever the APP14 marker says, then convert("RGB") applies its cmyk2rgb. Both steps are
// reproduced here, on the CMYK samples libjpeg produces (it turns YCCK into CMYK itself).
void cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, size_t pixels) {
  // Pillow's MULDIV255: a rounded a*b/255 without a division.
  auto muldiv255 = [](int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (size_t i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
    int nk = cmyk[3];  // 255 - K after undoing the inversion
    for (int c = 0; c < 3; ++c) {
      int v = nk - muldiv255(255 - cmyk[c], nk);
      rgb[c] = static_cast<uint8_t>(v < 0 ? 0 : v);
    }
  }
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  Decompressor handle(tjInitDecompress(), &tjDestroy);
  if (!handle)
    throw Error(name + ": cannot start the JPEG decoder (" + libjpeg_message(nullptr) + ")");

  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, static_cast<unsigned long>(size), &width, &height,
                          &subsampling, &colorspace) != 0)
    throw Error(name + ": invalid JPEG header (" + libjpeg_message(handle.get()) + ")");
  check_dimensions(width, height, name);

  const bool gray = colorspace == TJCS_GRAY;
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const int format = gray ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB;

  Image image = make_image(width, height, gray ? 1 : 3);
  std::vector<uint8_t> cmyk_pixels;
  uint8_t* target = image.pixels.data();
  if (cmyk) {
    cmyk_pixels.resize(static_cast<size_t>(width) * height * 4);
    target = cmyk_pixels.data();
  }

  // Flags 0 are libjpeg's defaults (ISLOW DCT, fancy upsampling), which Pillow also uses,
  // so the pixels are Pillow's.
  if (tjDecompress2(handle.get(), data, static_cast<unsigned long>(size), target, width, 0, height,
                    format, 0) != 0) {
    // Pillow refuses a truncated JPEG ("image file is truncated") but, like libjpeg, decodes
    // files that only draw a "Corrupt JPEG data: ..." warning (extraneous bytes before a
    // marker, a bad Huffman code), which occur in real datasets: we follow it rather than
    // reject images PyTorch loads. TurboJPEG keeps the first warning's text and reports
    // TJERR_WARNING even when a fatal error (whose text then replaces it) came after a
    // warning, so the text decides. Truncation shows as "Premature end of JPEG file".
    const std::string message = tjGetErrorStr2(handle.get());
    const bool benign =
        tjGetErrorCode(handle.get()) == TJERR_WARNING && message.rfind("Corrupt JPEG data", 0) == 0;
    if (!benign) {
      const char* what = message.find("Premature end of JPEG file") != std::string::npos
                             ? ": truncated JPEG data"
                         : tjGetErrorCode(handle.get()) == TJERR_WARNING
                             ? ": corrupt or truncated JPEG data"  // a warning, then a failure
                             : ": corrupt JPEG data";
      throw Error(name + what + " (libjpeg: " + message + ")");
    }
  }
  if (cmyk) cmyk_to_rgb(cmyk_pixels.data(), image.pixels.data(), cmyk_pixels.size() / 4);
  return image;
}

}  // namespace vpet::image
