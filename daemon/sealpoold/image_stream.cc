#include "daemon/sealpoold/image_stream.h"

#include <string>

#include "base/strings.h"
#include "crypto/secure_memory.h"

namespace sealpool::daemon {

using base::Cat;

int64_t UnixMicros(absl::Time t) {
  if (t == absl::InfinitePast()) return 0;
  if (t == absl::InfiniteFuture()) return INT64_MAX;
  return absl::ToUnixMicros(t);
}

absl::Time FromUnixMicrosOrNone(int64_t micros) {
  if (micros <= 0) return absl::InfinitePast();
  return absl::FromUnixMicros(micros);
}

void ImageToProto(const storage::ImageInfo& info, pool::v1::Image* out) {
  out->set_lsu(info.lsu);
  out->set_owner(info.owner);
  out->set_name(info.name);
  out->set_size(info.size);
  out->set_created_unix_micros(UnixMicros(info.created));
  out->set_retain_until_unix_micros(UnixMicros(info.retain_until));
  for (const auto& [k, v] : info.labels) (*out->mutable_labels())[k] = v;
  out->set_key_group(info.key_group);
  out->set_image_id(info.image_id);
}

absl::Status StreamImage(const storage::Pool& pool, const storage::ImageInfo& image,
                         uint64_t offset, std::optional<uint64_t> length,
                         grpc::ServerWriter<pool::v1::RestoreResponse>* writer,
                         const std::function<void(size_t)>& on_bytes) {
  if (offset > image.size) {
    return absl::InvalidArgumentError(Cat("offset ", offset, " is past the end of image ",
                                          image.lsu, "/", image.name, " (", image.size,
                                          " bytes)"));
  }
  const uint64_t len = length.value_or(image.size - offset);
  if (len > image.size - offset) {
    return absl::InvalidArgumentError(Cat("range ", offset, "+", len, " runs past the end of image ",
                                          image.lsu, "/", image.name, " (", image.size,
                                          " bytes)"));
  }
  pool::v1::RestoreResponse header;
  ImageToProto(image, header.mutable_header()->mutable_image());
  header.mutable_header()->set_offset(offset);
  header.mutable_header()->set_length(len);
  if (!writer->Write(header)) return absl::CancelledError("the client went away");

  pool::v1::RestoreResponse msg;
  std::string* buffer = msg.mutable_data();
  buffer->reserve(kRestoreMessageBytes);
  // The message buffer holds restored plaintext: wiped, its whole capacity, however the stream
  // ends (gRPC's own copies of sent messages are out of reach).
  struct WipeOnExit {
    std::string* b;
    ~WipeOnExit() {
      b->resize(b->capacity());
      crypto::Wipe({reinterpret_cast<uint8_t*>(b->data()), b->size()});
    }
  } wipe_on_exit{buffer};
  auto flush = [&]() -> absl::Status {
    if (buffer->empty()) return absl::OkStatus();
    const size_t n = buffer->size();
    if (!writer->Write(msg)) return absl::CancelledError("the client went away");
    if (on_bytes) on_bytes(n);
    buffer->clear();
    return absl::OkStatus();
  };
  absl::Status s = pool.ReadImage(
      storage::ImageKey{image.lsu, image.owner, image.name}, offset, len, [&](std::span<const uint8_t> data) -> absl::Status {
        while (!data.empty()) {
          const size_t take = std::min(data.size(), kRestoreMessageBytes - buffer->size());
          buffer->append(reinterpret_cast<const char*>(data.data()), take);
          data = data.subspan(take);
          if (buffer->size() == kRestoreMessageBytes) {
            if (absl::Status f = flush(); !f.ok()) return f;
          }
        }
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return flush();
}

}  // namespace sealpool::daemon
