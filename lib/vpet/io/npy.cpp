#include "vpet/io/npy.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

#include "vpet/error.h"
#include "vpet/io/numpy_dtype.h"

namespace vpet::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
// numpy refuses headers over 10,000 bytes unless told otherwise
// (format.py's _MAX_HEADER_SIZE); real ones are under 200.
constexpr std::size_t kMaxHeader = 10000;
// numpy's own limit on dimensions (NPY_MAXDIMS is 32; 64 since numpy 2.0).
constexpr std::size_t kMaxDims = 64;

// A cursor over the header's dict literal. It reads Python literals only
// (strings, True/False, tuples of integers): nothing is evaluated.
class Literal {
 public:
  Literal(std::string_view text, const std::string& where) : text_(text), where_(where) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(where_ + ": .npy header: " + what + " at header byte " + std::to_string(at_) +
                " (the header is a Python dict such as {'descr': '<f4', 'fortran_order': "
                "False, 'shape': (3,)})");
  }
  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\t'))
      ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!take(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string() {
    skip_space();
    if (at_ >= text_.size() || (text_[at_] != '\'' && text_[at_] != '"')) fail("expected a string");
    const char quote = text_[at_++];
    std::string out;
    while (at_ < text_.size() && text_[at_] != quote) {
      // numpy's dtype strings never need escapes; refusing them keeps this a
      // reader of numpy's output, not of Python.
      if (text_[at_] == '\\') fail("escape sequences are not part of a .npy header");
      out += text_[at_++];
    }
    if (at_ >= text_.size()) fail("unterminated string");
    ++at_;
    return out;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true},
                                      std::pair<std::string_view, bool>{"False", false}}) {
      if (text_.substr(at_, word.size()) == word) {
        at_ += word.size();
        return value;
      }
    }
    fail("expected True or False");
  }
  std::int64_t integer() {
    skip_space();
    const std::size_t start = at_;
    std::int64_t value = 0;
    while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) {
      if (__builtin_mul_overflow(value, 10, &value) ||
          __builtin_add_overflow(value, text_[at_] - '0', &value)) {
        fail("a dimension too large");
      }
      ++at_;
    }
    // numpy writes Python ints; older versions wrote longs such as 3L.
    if (at_ < text_.size() && text_[at_] == 'L') ++at_;
    if (at_ == start) fail("expected a non-negative integer");
    return value;
  }
  std::vector<std::int64_t> shape() {
    expect('(');
    std::vector<std::int64_t> dims;
    while (!take(')')) {
      if (dims.size() == kMaxDims) fail("more than 64 dimensions");
      dims.push_back(integer());
      if (!take(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }

 private:
  std::string_view text_;
  std::string where_;
  std::size_t at_ = 0;
};

std::uint32_t load_le(const std::uint8_t* p, int bytes) {
  std::uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

}  // namespace

NpyHeader parse_npy_header(const std::uint8_t* bytes, std::size_t size, const std::string& source) {
  if (size < kMagicSize + 2 || std::memcmp(bytes, kMagic, kMagicSize) != 0) {
    throw Error(source + ": not a .npy array (no \\x93NUMPY magic at byte 0)");
  }
  const int major = bytes[6];
  if (major < 1 || major > 3) {
    throw Error(source + ": .npy format version " + std::to_string(major) + "." +
                std::to_string(bytes[7]) + " (vpet reads 1.0, 2.0 and 3.0)");
  }
  const int length_bytes = major == 1 ? 2 : 4;
  if (size < kMagicSize + 2 + std::size_t(length_bytes)) {
    throw Error(source + ": .npy file ends inside its header length");
  }
  const std::size_t header_length = load_le(bytes + 8, length_bytes);
  NpyHeader header;
  header.data_offset = 8 + std::size_t(length_bytes) + header_length;
  if (header_length > kMaxHeader) {
    throw Error(source + ": .npy header length " + std::to_string(header_length) +
                " exceeds the 10000 bytes numpy itself reads (corrupt file?)");
  }
  if (header.data_offset > size) {
    throw Error(source + ": .npy header claims " + std::to_string(header_length) +
                " bytes, but the file ends at byte " + std::to_string(size));
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes) + 8 + length_bytes,
                              header_length);
  for (unsigned char c : text) {
    // Versions 1 and 2 are latin-1/ASCII; 3 allows UTF-8 in field names,
    // which a plain array's header never has. Control bytes are corruption.
    if (c < 0x20 && c != '\n' && c != '\t') {
      throw Error(source + ": .npy header holds a control byte (corrupt file?)");
    }
  }
  Literal literal(text, source);
  bool seen_descr = false, seen_order = false, seen_shape = false;
  literal.expect('{');
  while (!literal.take('}')) {
    const std::string key = literal.string();
    literal.expect(':');
    bool* seen = nullptr;
    if (key == "descr") {
      header.descr = literal.string();
      seen = &seen_descr;
    } else if (key == "fortran_order") {
      header.fortran_order = literal.boolean();
      seen = &seen_order;
    } else if (key == "shape") {
      header.shape = literal.shape();
      seen = &seen_shape;
    } else {
      literal.fail("unexpected key '" + key + "'");
    }
    if (*seen) literal.fail("key '" + key + "' given twice");
    *seen = true;
    if (!literal.take(',')) {
      literal.expect('}');
      break;
    }
  }
  if (!literal.at_end()) literal.fail("unexpected text after the dict");
  if (!seen_descr || !seen_order || !seen_shape) {
    literal.fail("the dict needs 'descr', 'fortran_order' and 'shape'");
  }
  return header;
}

torch::Tensor decode_npy(const std::uint8_t* bytes, std::size_t size, const std::string& source) {
  const NpyHeader header = parse_npy_header(bytes, size, source);
  try {
    const NumpyType type = parse_numpy_type(header.descr);
    // Fortran order stores the transpose's C order: read the reversed shape
    // and transpose back.
    std::vector<std::int64_t> sizes = header.shape;
    if (header.fortran_order) std::reverse(sizes.begin(), sizes.end());
    torch::Tensor tensor = tensor_from_bytes(
        type, sizes,
        std::string_view(reinterpret_cast<const char*>(bytes) + header.data_offset,
                         size - header.data_offset));
    if (header.fortran_order && tensor.dim() > 1) {
      std::vector<std::int64_t> order(std::size_t(tensor.dim()));
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = std::int64_t(order.size() - 1 - i);
      tensor = tensor.permute(order).contiguous();
    }
    return tensor;
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
}

}  // namespace vpet::io
