// numpy's .npz archives (numpy.savez, savez_compressed): a zip file whose
// entries are .npy arrays (npy.h), stored or deflated, read with libzip.
// Google's JAX ViT checkpoints (ViT-B_16.npz, the AugReg files) come so.
#pragma once

#include <string>
#include <vector>

#include "vpet/io/safetensors.h"

namespace vpet::io {

// Whether the file starts with a zip archive's local-file signature ("PK\3\4"):
// an .npz, or a PyTorch zip pickle (torch.save since 1.6).
bool is_zip_file(const std::string& path);

// The names of a zip archive's entries. Throws vpet::Error naming the file.
std::vector<std::string> zip_entry_names(const std::string& path);

// Every array of an .npz, named as numpy.load names them (the entry name
// without ".npy"), in archive order. Throws vpet::Error naming the file and
// the entry for an entry that is not a valid .npy, a duplicate name, or an
// archive whose arrays would unpack to more than 1000 times its own size
// (plus 64 MiB): a zip bomb, not weights.
TensorMap read_npz(const std::string& path);

}  // namespace vpet::io
