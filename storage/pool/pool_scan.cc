// Whole-pool scans: Scrub (checksums of every container record, no key needed) and the rebuild
// of the fingerprint index from the containers.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"

namespace sealpool::storage {
namespace {

// Image labels of the images whose recipes reference any of `segments` ((group, id) pairs).
absl::StatusOr<std::map<std::pair<uint32_t, uint64_t>, std::vector<std::string>>> ImagesUsing(
    const Pool::Impl& p, const std::set<std::pair<uint32_t, uint64_t>>& segments) {
  std::map<std::pair<uint32_t, uint64_t>, std::vector<std::string>> out;
  if (segments.empty()) return out;
  std::vector<ImageRecord> images;
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kImages, ImagePrefix(), [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        absl::StatusOr<ImageRecord> image = DecodeImage(value);
        if (image.ok()) images.push_back(*std::move(image));
        return true;
      }));
  for (const ImageRecord& image : images) {
    std::set<uint64_t> seen;
    SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
        Cf::kRecipes, RecipePrefix(image.image_id),
        [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
          absl::StatusOr<RecipeExtent> extent = DecodeRecipeExtent(value);
          if (!extent.ok()) return true;
          const auto key = std::make_pair(image.group_no, extent->segment_id.value());
          if (segments.contains(key) && seen.insert(key.second).second) {
            out[key].push_back(ImageLabel(image));
          }
          return true;
        }));
  }
  return out;
}

}  // namespace

absl::StatusOr<ScrubReport> Pool::Scrub(const ScrubProgressFn& progress) const {
  const Impl& p = *impl_;
  ScrubReport report;
  struct Damage {
    std::string text;
    std::optional<std::pair<uint32_t, uint64_t>> live_segment;
  };
  std::vector<Damage> damages;
  // Where live segments are: container -> (offset -> (group, segment id, record length)).
  std::map<uint64_t, std::map<uint64_t, std::tuple<uint32_t, uint64_t, uint32_t>>> live_at;
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kSegments, "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        uint32_t group_no = 0;
        absl::StatusOr<crypto::SegmentId> seg = DecodeSegmentKey(key, &group_no);
        absl::StatusOr<SegmentRecord> r = DecodeSegmentRecord(value);
        if (!seg.ok() || !r.ok()) {
          damages.push_back({absl::StrCat("catalog: a segment record does not decode: ",
                                          (seg.ok() ? r.status() : seg.status()).message()),
                             {}});
          return true;
        }
        live_at[r->container_id][r->offset] = {group_no, seg->value(), r->record_length};
        return true;
      }));
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> files, p.containers->List());
  std::map<uint64_t, uint64_t> sizes;
  // One container file; problems go to `damages`.
  auto scan_one = [&](uint64_t id) -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              p.catalog->Get(Cf::kContainers, ContainerKey(id)));
    if (!value.has_value()) return absl::OkStatus();  // nothing committed in it
    absl::StatusOr<std::unique_ptr<ContainerReader>> reader = p.containers->OpenReader(id);
    if (!reader.ok()) {
      if (absl::IsNotFound(reader.status())) return absl::OkStatus();  // removed meanwhile
      damages.push_back({absl::StrCat("container ", id, ": ", reader.status().message()), {}});
      return absl::OkStatus();
    }
    ++report.containers_scanned;
    SEALPOOL_ASSIGN_OR_RETURN(ContainerScanner scanner, ContainerScanner::Create(reader->get()));
    sizes[id] = scanner.file_size();
    report.bytes_scanned += scanner.file_size();
    const auto& live = live_at[id];
    while (true) {
      absl::StatusOr<std::optional<ScanItem>> next = scanner.Next();
      if (absl::IsDataLoss(next.status())) {
        // The container cannot be read on (an object truncated or removed behind the pool's
        // back, docs/s3.md): a problem of this container, and the scan goes on with the next.
        damages.push_back({absl::StrCat("container ", id, ": ", next.status().message()), {}});
        break;
      }
      SEALPOOL_ASSIGN_OR_RETURN(std::optional<ScanItem> item, std::move(next));
      if (!item.has_value()) break;
      ++report.records_checked;
      if (item->kind == ScanItem::Kind::kRecord) continue;
      // Harmful only if a live segment's record starts inside the damaged region.
      auto it = live.lower_bound(item->location.offset);
      if (it == live.end() || it->first >= item->location.end()) {
        report.dead_regions.push_back(absl::StrCat(item->error.message(), " (no live segment there: no data lost)"));
        continue;
      }
      Damage d;
      d.text = std::string(item->error.message());
      d.live_segment = std::make_pair(std::get<0>(it->second), std::get<1>(it->second));
      if (!item->header.has_value()) {
        absl::StrAppend(&d.text, " (holds segment ", std::get<1>(it->second), ")");
      }
      damages.push_back(std::move(d));
    }
    return absl::OkStatus();
  };
  ScrubProgress where;
  where.containers_total = files.size();
  for (uint64_t id : files) {
    SEALPOOL_RETURN_IF_ERROR(scan_one(id));
    ++where.containers_done;
    where.bytes_scanned = report.bytes_scanned;
    if (progress) progress(where);
  }
  // Every live segment record must point inside a container that exists.
  for (const auto& [container, at] : live_at) {
    auto size = sizes.find(container);
    for (const auto& [offset, what] : at) {
      const auto& [group_no, seg, length] = what;
      if (size != sizes.end() && offset + length <= size->second) continue;
      Damage d;
      d.text = absl::StrCat("segment ", seg, ": container ", container,
                            size == sizes.end() ? " is missing" : " is too short",
                            " (record at offset ", offset, ")");
      d.live_segment = std::make_pair(group_no, seg);
      damages.push_back(std::move(d));
    }
  }
  std::set<std::pair<uint32_t, uint64_t>> live;
  for (const Damage& d : damages) {
    if (d.live_segment.has_value()) live.insert(*d.live_segment);
  }
  SEALPOOL_ASSIGN_OR_RETURN(auto users, ImagesUsing(p, live));
  for (const Damage& d : damages) {
    std::string line = d.text;
    if (d.live_segment.has_value()) {
      auto it = users.find(*d.live_segment);
      if (it == users.end()) {
        absl::StrAppend(&line, "; referenced by no image");
      } else {
        absl::StrAppend(&line, "; damages ", absl::StrJoin(it->second, ", "));
      }
    }
    report.problems.push_back(std::move(line));
  }
  return report;
}

absl::StatusOr<RebuildReport> Pool::RebuildFingerprintIndex() {
  Impl& p = *impl_;
  absl::MutexLock maintenance(&p.maintenance_mu);
  RebuildReport report;
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> files, p.containers->List());
  for (uint64_t id : files) {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              p.catalog->Get(Cf::kContainers, ContainerKey(id)));
    if (!value.has_value()) continue;
    SEALPOOL_ASSIGN_OR_RETURN(ContainerRecord container, DecodeContainer(*value));
    absl::StatusOr<std::unique_ptr<ContainerReader>> reader = p.containers->OpenReader(id);
    if (absl::IsNotFound(reader.status())) continue;
    if (!reader.ok()) return reader.status();
    ++report.containers_scanned;
    SEALPOOL_ASSIGN_OR_RETURN(ContainerScanner scanner,
                              ContainerScanner::Create(reader->get(), {.verify_payloads = false}));
    Catalog::Batch batch;
    while (true) {
      SEALPOOL_ASSIGN_OR_RETURN(std::optional<ScanItem> item, scanner.Next());
      if (!item.has_value()) break;
      if (item->kind != ScanItem::Kind::kRecord) continue;
      const RecordHeader& h = *item->header;
      SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> rec,
                                p.catalog->Get(Cf::kSegments, SegmentKey(container.group_no, h.segment_id)));
      if (!rec.has_value()) {
        ++report.records_skipped;
        continue;
      }
      SEALPOOL_ASSIGN_OR_RETURN(SegmentRecord r, DecodeSegmentRecord(*rec));
      if (r.container_id != id || r.offset != item->location.offset || r.fingerprint != h.fingerprint) {
        ++report.records_skipped;
        continue;
      }
      batch.Put(Cf::kFingerprints, FingerprintIndexKey(container.group_no, h.fingerprint),
                EncodeU64(h.segment_id.value()));
      ++report.entries_written;
      if (batch.count() >= 4096) {
        SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
        batch.Clear();
      }
    }
    if (!batch.empty()) SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
  }
  // Drop entries that point at nothing (or at a segment of another fingerprint).
  Catalog::Batch stale;
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kFingerprints, "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        uint32_t group_no = 0;
        absl::StatusOr<crypto::Fingerprint> fp = DecodeFingerprintIndexKey(key, &group_no);
        absl::StatusOr<uint64_t> id = DecodeU64(value, "fingerprint index entry");
        bool keep = fp.ok() && id.ok();
        if (keep) {
          SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> rec,
                                    p.catalog->Get(Cf::kSegments, SegmentKey(group_no, crypto::SegmentId(*id))));
          absl::StatusOr<SegmentRecord> r =
              rec.has_value() ? DecodeSegmentRecord(*rec) : absl::StatusOr<SegmentRecord>(absl::NotFoundError(""));
          keep = r.ok() && r->fingerprint == *fp;
        }
        if (!keep) stale.Delete(Cf::kFingerprints, key);
        return true;
      }));
  if (!stale.empty()) SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(stale));
  return report;
}

}  // namespace sealpool::storage
