// Test helpers for the segment store's tests (test/storage/*): a temporary directory, segments
// with deterministic bytes, raw file surgery, and a container fixture that speaks verbs.
#ifndef SEALPOOL_TEST_STORAGE_STORE_STORE_TEST_UTIL_H_
#define SEALPOOL_TEST_STORAGE_STORE_STORE_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "test/test_util.h"
#include "storage/store/container_format.h"
#include "storage/store/container_reader.h"
#include "storage/store/container_writer.h"
#include "storage/store/fault_injection_file_system.h"
#include "storage/store/file_system.h"

namespace sealpool::storage::testing {

using TempDir = ::sealpool::test::TempDir;

// A sealed segment that owns its stored bytes (pseudo-random, from the id).
struct TestSegment {
  SealedSegment meta;
  std::vector<uint8_t> bytes;

  SealedSegment view() const {
    SealedSegment s = meta;
    s.stored = bytes;
    return s;
  }
};
TestSegment MakeSegment(uint64_t id, size_t stored_size);

// Raw file access around the FileSystem seam, as a disk fault would do it.
std::vector<uint8_t> ReadWholeFile(const std::string& path);
void WriteWholeFile(const std::string& path, const std::vector<uint8_t>& bytes);
uint64_t FileSizeOf(const std::string& path);

// A container at dir/c7.spc (container id 7) behind a FaultInjectionFileSystem.
class ContainerFixture {
 public:
  static constexpr uint64_t kContainerId = 7;

  ContainerFixture();

  ContainerHeader Header() const;
  // Creates the container (REQUIREs success).
  void Create(ContainerWriterOptions options = {});
  // Appends a segment of `stored_size` bytes (REQUIREs success); remembers it by id.
  RecordLocation Write(uint64_t segment_id, size_t stored_size);
  void Sync();
  // Destroys the writer without a sync, as a crashing process does.
  void Crash();
  // Crash, then lose what was never synced, as a power cut does.
  void PowerCut();

  void CorruptByte(uint64_t offset, uint8_t xor_mask = 0x01);
  void ZeroRange(uint64_t offset, uint64_t length);
  void TruncateFile(uint64_t size);

  absl::StatusOr<RecordHeader> Read(RecordLocation location, std::vector<uint8_t>* stored,
                                    std::optional<crypto::SegmentId> expected = std::nullopt);
  // Scans the whole container (REQUIREs that it opens and reads without I/O errors).
  std::vector<ScanItem> ScanAll(ScanOptions options = {});

  const TestSegment& segment(uint64_t id) const { return segments_.at(id); }

  TempDir dir_;
  FaultInjectionFileSystem fs_{DefaultFileSystem()};
  std::string path_;
  std::unique_ptr<ContainerWriter> writer_;
  std::map<uint64_t, TestSegment> segments_;
};

}  // namespace sealpool::storage::testing

#endif  // SEALPOOL_TEST_STORAGE_STORE_STORE_TEST_UTIL_H_
