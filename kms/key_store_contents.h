// What sealkmsd's built-in key store holds: key groups, root keys with their states and
// material, and the usage registry (which KEK of which pool is wrapped under which root key).
// Plain values; KeyStore guards them, key_store_format.h encodes them.
#ifndef SEALPOOL_KMS_KEY_STORE_CONTENTS_H_
#define SEALPOOL_KMS_KEY_STORE_CONTENTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "crypto/keys.h"
#include "kms/root_key_state.h"

namespace sealpool::kms {

struct StoredGroup {
  std::string name;
  int64_t created_unix = 0;
};

struct StoredRootKey {
  std::string id;
  std::string group;
  RootKeyState state = RootKeyState::kPrelive;
  int64_t created_unix = 0;
  int64_t state_changed_unix = 0;
  // Null once terminated (the material is destroyed). Shared so that a copy of the contents
  // (made for every change, see KeyStore) does not copy secrets; the key itself is immutable.
  std::shared_ptr<const crypto::RootKey> material;
};

// (pool id, key group, KEK id).
using UsageKey = std::tuple<std::string, std::string, std::string>;

// A change sent to an external KMS whose outcome sealkmsd has not seen yet: recorded (saved)
// before the request leaves, dropped when the answer is recorded, reconciled with the KMS
// when the answer never came (a deadline, a dropped connection). KMIP backend only
// (kmip_backend.h, kmip_state_file.h); the built-in store never has any.
struct PendingKmsChange {
  enum class Op : uint8_t { kCreate = 1, kActivate = 2, kRevoke = 3, kDestroy = 4 };
  std::string request_id;  // [A-Za-z0-9-]; a Create stores it in the new key
  Op op = Op::kCreate;
  std::string group;
  std::string key_id;  // the key changed; empty for kCreate
  bool erase = false;  // kDestroy for a key deletion: the record goes too
  int64_t created_unix = 0;
};

struct KeyStoreContents {
  uint64_t generation = 0;                    // incremented by every save
  std::map<std::string, StoredGroup> groups;  // by name
  std::map<std::string, StoredRootKey> keys;  // by id
  std::map<UsageKey, std::string> usage;      // → root key id
  // → SHA-256 of a KEK pair's public half (64 hex digits), pinned at its first registration;
  // only for keys that also have a usage entry.
  std::map<UsageKey, std::string> pins;
  std::vector<PendingKmsChange> pending;      // KMIP backend only, oldest first
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_STORE_CONTENTS_H_
