// Reads the published known-answer vector files the crypto tests use (NIST CAVS .rsp/.txt and
// the cryptography project's RFC transcriptions): blank-line-separated records of
// "NAME = value" lines, with "#" comments, "[section]" headers and a bare "FAIL" line marking a
// vector that must be rejected. Test-only helper.
#ifndef SEALPOOL_TEST_CRYPTO_VECTOR_FILE_H_
#define SEALPOOL_TEST_CRYPTO_VECTOR_FILE_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sealpool::test {

struct VectorRecord {
  std::map<std::string, std::string> fields;  // name -> value as written (trimmed)
  bool fail = false;                          // the record carried a "FAIL" line
  int line = 0;                               // first line of the record, for messages

  bool Has(const std::string& name) const { return fields.count(name) != 0; }
  // The value of `name`; aborts the test binary if the record lacks it.
  const std::string& Text(const std::string& name) const;
  // The value of `name` decoded from hex (empty value -> no bytes).
  std::vector<uint8_t> Hex(const std::string& name) const;
};

// Every record of `path`; an empty vector if the file cannot be read.
std::vector<VectorRecord> ReadVectorFile(const std::filesystem::path& path);

// The installed python3-cryptography-vectors tree (set at configure time), or an empty path.
std::filesystem::path SystemVectorsDir();

// `relative` inside SystemVectorsDir(); ends the test with SkipTest when the package or the
// file is missing (the pinned subset in test/data/crypto still runs).
std::filesystem::path SystemVectorFileOrSkip(const std::string& relative);

// `name` inside test/data/crypto (the pinned subset, always present).
std::filesystem::path PinnedVectorFile(const std::string& name);

}  // namespace sealpool::test

#endif  // SEALPOOL_TEST_CRYPTO_VECTOR_FILE_H_
