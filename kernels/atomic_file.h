// Whole-file reads and crash-safe writes. A result file (model, tensor, trace) is either the old
// one or the complete new one, never a half-written mix, even when coda is killed mid-write.
#pragma once

#include <string>

namespace coda {

// Writes `bytes` to a temporary file in the directory of `path`, flushes it to disk and renames it
// over `path` (rename is atomic within a file system, POSIX.1-2017 rename()). On failure the
// temporary file is removed, `path` is untouched, and BadInput "PATH: cannot write: <reason>" is
// thrown. New files get the usual 0666 & ~umask permissions, replaced files keep theirs. A
// symbolic link at `path` is replaced by the file, not written through.
void write_file_atomically(const std::string& path, const std::string& bytes);

// The whole file; BadInput "PATH: cannot open: <reason>" or "PATH: cannot read: <reason>".
std::string read_file(const std::string& path);

// The directory part of `path` ("." when it has none), for resolving files next to a model.
std::string parent_directory(const std::string& path);

}  // namespace coda
