#include "vpet/image/png.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "vpet/error.h"

namespace vpet::image {

namespace {

// libpng reports errors by longjmp. Everything that lives across a setjmp below is
// trivially destructible (this struct, raw pointers), so a jump skips no destructor; the
// C++ objects (buffers, the Image) are created and thrown between the jumping phases.
struct Reader {
  const uint8_t* data;
  size_t size;
  size_t position;
  bool truncated;
  char message[256];
};

struct Header {
  png_uint_32 width, height;
  int bit_depth, color_type, interlace;
  png_color palette[PNG_MAX_PALETTE_LENGTH];
  int palette_size;
};

void on_error(png_structp png, png_const_charp message) {
  auto* reader = static_cast<Reader*>(png_get_error_ptr(png));
  std::snprintf(reader->message, sizeof reader->message, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // ancillary-chunk trouble never matters

void on_read(png_structp png, png_bytep out, png_size_t count) {
  auto* reader = static_cast<Reader*>(png_get_io_ptr(png));
  if (count > reader->size - reader->position) {
    reader->truncated = true;
    png_error(png, "unexpected end of file");
  }
  std::memcpy(out, reader->data + reader->position, count);
  reader->position += count;
}

bool read_header(png_structp png, png_infop info, Header* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  png_get_IHDR(png, info, &header->width, &header->height, &header->bit_depth, &header->color_type,
               &header->interlace, nullptr, nullptr);
  png_colorp palette = nullptr;
  header->palette_size = 0;
  if (png_get_PLTE(png, info, &palette, &header->palette_size) != 0)
    std::memcpy(header->palette, palette, sizeof(png_color) * header->palette_size);
  return true;
}

// Reads the whole image as 8-bit samples: 16-bit samples keep their high byte (what
// Pillow's "RGB;16B"-style raw modes do) and 1/2/4-bit samples are unpacked to one byte,
// still unscaled. tRNS, gamma and colour profiles are left alone, as Pillow does.
bool read_samples(png_structp png, png_infop info, png_bytepp rows, size_t row_bytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_strip_16(png);
  png_set_packing(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != row_bytes) png_error(png, "unexpected row size");
  png_read_image(png, rows);
  return true;
}

int samples_per_pixel(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    case PNG_COLOR_TYPE_RGB:
      return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return 4;
    default:
      return 1;  // gray, palette index
  }
}

struct PngDeleter {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngDeleter() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

}  // namespace

Image decode_png(const uint8_t* data, size_t size, const std::string& name) {
  Reader reader{data, size, 0, false, {}};
  PngDeleter structs;
  structs.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, on_error, on_warning);
  if (structs.png) structs.info = png_create_info_struct(structs.png);
  if (!structs.png || !structs.info) throw Error(name + ": cannot start the PNG decoder");
  // libpng allocates (and clears) what an ancillary chunk's length field
  // claims before reading it, a too-large length being only a warning: a
  // 101-byte file claiming a 1.4 GB zTXt chunk cost 1.4 GB and seconds
  // (found by fuzz_png). No ancillary chunk changes the samples read here, so
  // every one but tRNS (read into a fixed buffer) is skipped unread:
  // num_chunks -1 means all chunks libpng knows except IHDR, PLTE, tRNS,
  // IDAT and IEND (libpng 1.6's png_set_keep_unknown_chunks).
  png_set_keep_unknown_chunks(structs.png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_set_read_fn(structs.png, &reader, on_read);

  auto failure = [&] {
    return Error(
        name +
        (reader.truncated ? ": truncated PNG data (libpng: " : ": corrupt PNG data (libpng: ") +
        reader.message + ")");
  };

  Header header{};
  if (!read_header(structs.png, structs.info, &header)) throw failure();
  check_dimensions(header.width, header.height, name);
  const int samples = samples_per_pixel(header.color_type);
  const size_t width = header.width, height = header.height;

  // zlib cannot expand data more than 1032:1, so a header promising more pixel data than
  // the file could hold is refused before the buffers below are allocated.
  const size_t raw_bytes = height * (1 + (width * samples * header.bit_depth + 7) / 8);
  if (raw_bytes / 1032 > size)
    throw Error(name + ": truncated PNG data (a " + std::to_string(width) + "x" +
                std::to_string(height) + " image cannot fit in " + std::to_string(size) +
                " bytes)");

  const size_t row_bytes = width * samples;
  std::vector<uint8_t> samples_buffer(row_bytes * height);
  std::vector<png_bytep> rows(height);
  for (size_t y = 0; y < height; ++y) rows[y] = samples_buffer.data() + y * row_bytes;
  if (!read_samples(structs.png, structs.info, rows.data(), row_bytes)) throw failure();

  const bool palette = header.color_type == PNG_COLOR_TYPE_PALETTE;
  const bool color = palette || header.color_type == PNG_COLOR_TYPE_RGB ||
                     header.color_type == PNG_COLOR_TYPE_RGB_ALPHA;
  Image image = make_image(header.width, header.height, color ? 3 : 1);
  const size_t pixels = width * height;
  const uint8_t* in = samples_buffer.data();
  uint8_t* out = image.pixels.data();
  if (palette) {
    for (size_t i = 0; i < pixels; ++i, out += 3) {
      const int index = in[i];
      // Pillow's palette starts as a gray ramp that PLTE overwrites, so an index past
      // the PLTE entries reads as gray `index`.
      if (index < header.palette_size) {
        out[0] = header.palette[index].red;
        out[1] = header.palette[index].green;
        out[2] = header.palette[index].blue;
      } else {
        out[0] = out[1] = out[2] = static_cast<uint8_t>(index);
      }
    }
  } else if (color) {
    // RGB, or RGBA with the alpha dropped (convert("RGB") does not composite).
    for (size_t i = 0; i < pixels; ++i, in += samples, out += 3) std::memcpy(out, in, 3);
  } else {
    // Gray, or gray+alpha with the alpha dropped; low bit depths are stretched to 0..255
    // (x255, x85, x17) exactly like Pillow's "1", "L;2" and "L;4" raw modes. 16-bit gray
    // is the one place we differ from Pillow on purpose: it opens such a file as mode "I"
    // and convert("L") clips every value above 255 to white; we keep the high byte, as for
    // every other 16-bit PNG, which is the only reading that preserves the picture.
    const int depth = header.bit_depth < 8 ? header.bit_depth : 8;
    const int scale = 255 / ((1 << depth) - 1);
    for (size_t i = 0; i < pixels; ++i, in += samples) out[i] = static_cast<uint8_t>(in[0] * scale);
  }
  return image;
}

}  // namespace vpet::image
