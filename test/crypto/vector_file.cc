#include "test/crypto/vector_file.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "test/test_util.h"

namespace sealpool::test {
namespace {

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

}  // namespace

const std::string& VectorRecord::Text(const std::string& name) const {
  auto it = fields.find(name);
  if (it == fields.end()) {
    std::fprintf(stderr, "vector record at line %d has no field %s\n", line, name.c_str());
    std::abort();
  }
  return it->second;
}

std::vector<uint8_t> VectorRecord::Hex(const std::string& name) const {
  return FromHex(Text(name));
}

std::vector<VectorRecord> ReadVectorFile(const std::filesystem::path& path) {
  std::vector<VectorRecord> records;
  std::ifstream in(path);
  if (!in) return records;
  VectorRecord current;
  auto flush = [&] {
    if (!current.fields.empty()) records.push_back(current);
    current = VectorRecord();
  };
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line = Trim(raw);
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == '#' || line[0] == '[') continue;
    if (current.fields.empty() && !current.fail) current.line = line_no;
    if (line == "FAIL") {
      current.fail = true;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    current.fields[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  flush();
  return records;
}

std::filesystem::path SystemVectorsDir() { return SEALPOOL_CRYPTO_VECTORS_DIR; }

std::filesystem::path SystemVectorFileOrSkip(const std::string& relative) {
  std::filesystem::path dir = SystemVectorsDir();
  if (dir.empty()) {
    SkipTest(
        "python3-cryptography-vectors was not found at configure time; install it for the "
        "full NIST/RFC vector files (the pinned subset in test/data/crypto still ran)");
  }
  std::filesystem::path file = dir / relative;
  if (!std::filesystem::exists(file)) {
    SkipTest("vector file " + file.string() +
             " is missing (python3-cryptography-vectors removed?); the pinned subset in "
             "test/data/crypto still ran");
  }
  return file;
}

std::filesystem::path PinnedVectorFile(const std::string& name) {
  return TestDataDir() / "crypto" / name;
}

}  // namespace sealpool::test
