#include "vpet/io/npz.h"

#include <zip.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>

#include "vpet/error.h"
#include "vpet/io/npy.h"
#include "vpet/strings.h"

namespace vpet::io {
namespace {

// The most the arrays of an archive may unpack to, relative to its size:
// weights compress by less than 2x, so a much larger ratio is a zip bomb.
constexpr std::uint64_t kMaxExpansion = 1000;
constexpr std::uint64_t kExpansionSlack = std::uint64_t{64} << 20;

struct ZipCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
using Archive = std::unique_ptr<zip_t, ZipCloser>;

struct EntryCloser {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

Archive open_archive(const std::string& path) {
  int code = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (!archive) throw Error(path + ": cannot read the zip archive: " + zip_error_text(code));
  return Archive(archive);
}

}  // namespace

bool is_zip_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

std::vector<std::string> zip_entry_names(const std::string& path) {
  const Archive archive = open_archive(path);
  std::vector<std::string> names;
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive.get(), zip_uint64_t(i), 0);
    names.push_back(name ? name : "");
  }
  return names;
}

TensorMap read_npz(const std::string& path) {
  const Archive archive = open_archive(path);
  std::uint64_t archive_size = 0;
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    archive_size = static_cast<std::uint64_t>(in.tellg());
  }
  const std::uint64_t budget = archive_size * kMaxExpansion + kExpansionSlack;
  std::uint64_t unpacked = 0;
  TensorMap map;
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(archive.get(), zip_uint64_t(i), 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE)) {
      throw Error(path + ": zip entry " + std::to_string(i) + ": " + zip_strerror(archive.get()));
    }
    const std::string name = st.name;
    const std::string where = path + ": array '" + name + "'";
    if (!ends_with(name, ".npy")) {
      throw Error(where + ": not a .npy entry (an .npz holds numpy arrays only)");
    }
    if (__builtin_add_overflow(unpacked, st.size, &unpacked) || unpacked > budget) {
      throw Error(where + ": the arrays would unpack to more than " +
                  std::to_string(kMaxExpansion) + " times the archive's " +
                  std::to_string(archive_size) + " bytes (a zip bomb?)");
    }
    std::unique_ptr<zip_file_t, EntryCloser> entry(
        zip_fopen_index(archive.get(), zip_uint64_t(i), 0));
    if (!entry) throw Error(where + ": cannot open: " + zip_strerror(archive.get()));
    std::string bytes(st.size, '\0');
    const zip_int64_t got = bytes.empty() ? 0 : zip_fread(entry.get(), bytes.data(), st.size);
    char extra = 0;
    if (got < 0 || zip_uint64_t(got) != st.size || zip_fread(entry.get(), &extra, 1) > 0) {
      const zip_error_t* error = zip_file_get_error(entry.get());
      throw Error(where + ": cannot read its " + std::to_string(st.size) + " bytes" +
                  (error && zip_error_code_zip(error) != ZIP_ER_OK
                       ? std::string(": ") + zip_error_strerror(const_cast<zip_error_t*>(error))
                       : std::string(" (truncated or corrupt archive)")));
    }
    torch::Tensor tensor =
        decode_npy(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), where);
    const std::string key = name.substr(0, name.size() - 4);
    if (map.contains(key)) throw Error(where + ": given twice");
    map.add(key, std::move(tensor));
  }
  return map;
}

}  // namespace vpet::io
