#include "storage/pool/grouped_container_store.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sealpool::storage {

GroupedContainerStore::GroupedContainerStore(std::unique_ptr<ContainerStore> local)
    : local_(std::move(local)) {}

absl::Status GroupedContainerStore::AddGroupStore(const Id128& key_group_id, uint32_t group_no,
                                                  std::string name,
                                                  std::unique_ptr<ContainerStore> store) {
  absl::StatusOr<std::vector<uint64_t>> ids = store->List();
  if (!ids.ok()) return ids.status();
  absl::MutexLock lock(&mu_);
  if (groups_.contains(key_group_id)) {
    return absl::AlreadyExistsError(absl::StrCat("key group ", name, " has a store already"));
  }
  for (uint64_t id : *ids) {
    auto it = owner_.find(id);
    if (it != owner_.end()) {
      return absl::DataLossError(absl::StrCat("container ", id, " is claimed by key group ",
                                              name, " and by key group ", it->second->name));
    }
  }
  GroupStore& g = groups_[key_group_id];
  g.group_no = group_no;
  g.name = std::move(name);
  g.store = std::move(store);
  for (uint64_t id : *ids) owner_[id] = &g;
  return absl::OkStatus();
}

CatalogLog* GroupedContainerStore::catalog_log() {
  if (CatalogLog* log = local_->catalog_log(); log != nullptr) return log;
  absl::MutexLock lock(&mu_);
  const GroupStore* lowest = nullptr;
  for (const auto& [id, g] : groups_) {
    if (g.store->catalog_log() == nullptr) continue;
    if (lowest == nullptr || g.group_no < lowest->group_no) lowest = &g;
  }
  return lowest == nullptr ? nullptr : lowest->store->catalog_log();
}

bool GroupedContainerStore::InGroupStore(uint64_t container_id) const {
  absl::MutexLock lock(&mu_);
  return owner_.contains(container_id);
}

std::string GroupedContainerStore::GroupOf(uint64_t container_id) const {
  absl::MutexLock lock(&mu_);
  auto it = owner_.find(container_id);
  return it == owner_.end() ? std::string() : it->second->name;
}

ContainerStore* GroupedContainerStore::StoreOf(uint64_t container_id) const {
  absl::MutexLock lock(&mu_);
  auto it = owner_.find(container_id);
  return it == owner_.end() ? local_.get() : it->second->store.get();
}

std::vector<ContainerStore*> GroupedContainerStore::AllStores() const {
  absl::MutexLock lock(&mu_);
  std::vector<ContainerStore*> out{local_.get()};
  for (const auto& [id, g] : groups_) out.push_back(g.store.get());
  return out;
}

absl::StatusOr<StoredLocation> GroupedContainerStore::Append(const Id128& key_group_id,
                                                             const SealedSegment& segment) {
  const GroupStore* g = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(key_group_id);
    if (it != groups_.end()) g = &it->second;
  }
  if (g == nullptr) return local_->Append(key_group_id, segment);
  absl::StatusOr<StoredLocation> where = g->store->Append(key_group_id, segment);
  if (where.ok()) {
    absl::MutexLock lock(&mu_);
    owner_[where->container_id] = g;
  }
  return where;
}

absl::Status GroupedContainerStore::Sync() {
  absl::Status first = absl::OkStatus();
  for (ContainerStore* s : AllStores()) {
    absl::Status st = s->Sync();
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

absl::Status GroupedContainerStore::Sync(std::span<const StoredLocation> locations) {
  std::map<ContainerStore*, std::vector<StoredLocation>> by_store;
  for (const StoredLocation& where : locations) {
    by_store[StoreOf(where.container_id)].push_back(where);
  }
  absl::Status first = absl::OkStatus();
  for (const auto& [store, mine] : by_store) {
    absl::Status st = store->Sync(mine);
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

absl::StatusOr<RecordHeader> GroupedContainerStore::Read(
    const StoredLocation& where, std::vector<uint8_t>* stored,
    std::optional<crypto::SegmentId> expected) const {
  return StoreOf(where.container_id)->Read(where, stored, expected);
}

absl::Status GroupedContainerStore::SealOpenContainers() {
  absl::Status first = absl::OkStatus();
  for (ContainerStore* s : AllStores()) {
    absl::Status st = s->SealOpenContainers();
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

absl::StatusOr<std::vector<uint64_t>> GroupedContainerStore::List() const {
  std::set<uint64_t> ids;
  for (ContainerStore* s : AllStores()) {
    absl::StatusOr<std::vector<uint64_t>> some = s->List();
    if (!some.ok()) return some.status();
    ids.insert(some->begin(), some->end());
  }
  return std::vector<uint64_t>(ids.begin(), ids.end());
}

bool GroupedContainerStore::IsOpenForAppend(uint64_t container_id) const {
  // Every store is asked: a group store's new container is routed only once its Append returns.
  for (ContainerStore* s : AllStores()) {
    if (s->IsOpenForAppend(container_id)) return true;
  }
  return false;
}

absl::Status GroupedContainerStore::Remove(uint64_t container_id) {
  absl::Status s = StoreOf(container_id)->Remove(container_id);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    owner_.erase(container_id);
  }
  return s;
}

absl::StatusOr<uint64_t> GroupedContainerStore::FileSize(uint64_t container_id) const {
  return StoreOf(container_id)->FileSize(container_id);
}

absl::StatusOr<std::unique_ptr<ContainerReader>> GroupedContainerStore::OpenReader(
    uint64_t container_id) const {
  return StoreOf(container_id)->OpenReader(container_id);
}

absl::StatusOr<OrphanSweepReport> GroupedContainerStore::SweepOrphans(
    const OrphanSweepOptions& options,
    const std::function<absl::StatusOr<bool>(uint64_t container_id)>& referenced) {
  OrphanSweepReport total;
  bool any = false;
  for (ContainerStore* store : AllStores()) {
    absl::StatusOr<OrphanSweepReport> r = store->SweepOrphans(options, referenced);
    if (absl::IsUnimplemented(r.status())) continue;
    if (!r.ok()) return r.status();
    any = true;
    total.intents_found += r->intents_found;
    total.intents_removed += r->intents_removed;
    total.intents_malformed += r->intents_malformed;
    total.orphans_found += r->orphans_found;
    total.orphans_removed += r->orphans_removed;
    total.orphans_kept_young += r->orphans_kept_young;
    total.objects_unreadable += r->objects_unreadable;
    total.bytes_removed += r->bytes_removed;
  }
  if (!any) {
    return absl::UnimplementedError("no container store of this pool has an orphan sweep "
                                    "(local files: Pool::Open removes unreferenced ones)");
  }
  return total;
}

}  // namespace sealpool::storage
