// Every magic number and format version of storage/'s on-disk formats, in one place.
//
// DO NOT EDIT an existing value: files on disk carry them. A new format or version adds a line
// here, a golden-bytes test and a section in docs/format.md.
#ifndef SEALPOOL_STORAGE_STORE_FORMAT_MAGIC_H_
#define SEALPOOL_STORAGE_STORE_FORMAT_MAGIC_H_

#include <array>
#include <cstdint>

namespace sealpool::storage::magic {

// Container files (storage/store/container_format.h, docs/format.md "Container files").
// The first 8 bytes of every container file: ASCII "SPCNTR" then "\r\n", which a text-mode
// transfer would mangle (the PNG trick).
inline constexpr std::array<uint8_t, 8> kContainerFileMagic = {'S', 'P', 'C',  'N',
                                                               'T', 'R', '\r', '\n'};
// The container format versions this binary reads; it writes the newest.
inline constexpr uint16_t kContainerFormatV1 = 1;
inline constexpr uint16_t kContainerFormatNewest = kContainerFormatV1;
// The first 4 bytes of every record, little-endian u32 0x31525053: ASCII "SPR1". The scanner
// resynchronises on it after corruption.
inline constexpr uint32_t kContainerRecordMagic = 0x31525053;
// Record types (u8).
inline constexpr uint8_t kContainerRecordTypeSealedSegment = 1;
// Compression algorithms of a sealed segment (u8).
inline constexpr uint8_t kCompressionRaw = 0;
inline constexpr uint8_t kCompressionZstd = 1;

// Segment sealing (storage/store/segment_codec.h, docs/format.md "Segment sealing: associated data").
// The version of the associated-data byte string bound to every sealed segment's GCM tag; it is
// the first field of that string, so a segment sealed under another layout never authenticates.
inline constexpr uint16_t kSegmentAadV1 = 1;
inline constexpr uint16_t kSegmentAadNewest = kSegmentAadV1;

// Container store (storage/store/container_store.h): a container file's name is its id as 16
// lower-case hex digits followed by this suffix.
inline constexpr char kContainerFileSuffix[] = ".spc";

}  // namespace sealpool::storage::magic

#endif  // SEALPOOL_STORAGE_STORE_FORMAT_MAGIC_H_
