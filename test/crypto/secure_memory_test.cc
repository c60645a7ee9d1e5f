// SecretBytes: zeroed on allocation, wiped on release, move-only, locked and not dumped.
#include "crypto/secure_memory.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "crypto/secure_memory_internal.h"

namespace sealpool::crypto {
namespace {

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);

SecretBytes MustAllocate(size_t n) {
  auto secret = SecretBytes::Allocate(n);
  REQUIRE(secret.ok());
  REQUIRE(secret->size() == n);
  return *std::move(secret);
}

void Fill(SecretBytes& secret, uint8_t value) {
  std::fill(secret.mutable_span().begin(), secret.mutable_span().end(), value);
}

bool AllZero(const uint8_t* p, size_t n) {
  // volatile: read what is really in memory now.
  const volatile uint8_t* v = p;
  for (size_t i = 0; i < n; ++i) {
    if (v[i] != 0) return false;
  }
  return true;
}

// The VmFlags of the /proc/self/smaps mapping that holds `p` ("rd wr mr mw me lo dd ...").
std::string VmFlagsOf(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> begin >> dash >> end && dash == '-' &&
        line.find(':') > line.find(' ')) {
      inside = begin <= addr && addr < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

// Whether this process can lock one more page right now.
bool CanLockAPage() {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  bool ok = mlock(p, page) == 0;
  if (ok) munlock(p, page);
  munmap(p, page);
  return ok;
}

TEST_CASE("a new secret buffer has the requested size and reads as zeros",
          "[crypto][secure_memory]") {
  for (size_t n : {size_t{1}, size_t{32}, size_t{64}, size_t{65}, size_t{5000}}) {
    SecretBytes secret = MustAllocate(n);
    CHECK(secret.span().size() == n);
    CHECK(secret.mutable_span().size() == n);
    CHECK(AllZero(secret.span().data(), n));
    Fill(secret, 0x5a);
    CHECK(std::all_of(secret.span().begin(), secret.span().end(),
                      [](uint8_t b) { return b == 0x5a; }));
  }
}

TEST_CASE("a zero-size secret buffer is empty", "[crypto][secure_memory]") {
  SecretBytes secret = MustAllocate(0);
  CHECK(secret.empty());
  CHECK(secret.span().empty());
  CHECK(SecretBytes().empty());
}

TEST_CASE("moving a secret hands over the buffer and leaves the source empty",
          "[crypto][secure_memory]") {
  SecretBytes a = MustAllocate(32);
  Fill(a, 0x11);
  const uint8_t* where = a.span().data();
  SecretBytes b(std::move(a));
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(a.span().data() == nullptr);
  CHECK(b.span().data() == where);  // no copy of the secret was made
  CHECK(b.size() == 32);
  CHECK(b.span()[31] == 0x11);
}

TEST_CASE("a destroyed small secret leaves only zeros behind", "[crypto][secure_memory]") {
  const uint8_t* where = nullptr;
  {
    SecretBytes secret = MustAllocate(32);
    Fill(secret, 0xa5);
    where = secret.span().data();
  }
  // Small secrets live in arenas that are never unmapped (secure_memory_internal.h), so the
  // released slot can still be read.
  CHECK(AllZero(where, internal::kSecretSlotSize));
}

TEST_CASE("move-assigning over a secret wipes the overwritten buffer", "[crypto][secure_memory]") {
  SecretBytes target = MustAllocate(40);
  Fill(target, 0xee);
  const uint8_t* old = target.span().data();
  SecretBytes source = MustAllocate(40);
  Fill(source, 0x22);
  target = std::move(source);
  CHECK(target.span()[0] == 0x22);
  CHECK(AllZero(old, internal::kSecretSlotSize));
}

TEST_CASE("Wipe zeroes exactly the span it is given", "[crypto][secure_memory]") {
  std::vector<uint8_t> bytes(48, 0xff);
  Wipe(std::span<uint8_t>(bytes).subspan(8, 32));
  CHECK(std::all_of(bytes.begin(), bytes.begin() + 8, [](uint8_t b) { return b == 0xff; }));
  CHECK(std::all_of(bytes.begin() + 8, bytes.begin() + 40, [](uint8_t b) { return b == 0; }));
  CHECK(std::all_of(bytes.begin() + 40, bytes.end(), [](uint8_t b) { return b == 0xff; }));
  Wipe({});  // an empty span is fine
}

TEST_CASE("secret memory is excluded from core dumps and locked when the budget allows",
          "[crypto][secure_memory]") {
  const bool lockable = CanLockAPage();
  for (size_t n : {size_t{32}, size_t{10000}}) {
    SecretBytes secret = MustAllocate(n);
    std::string flags = VmFlagsOf(secret.span().data());
    INFO("n = " << n << ", " << flags);
    REQUIRE(!flags.empty());
    CHECK(flags.find(" dd") != std::string::npos);
    CHECK(secret.locked() == (flags.find(" lo") != std::string::npos));
    if (lockable) CHECK(secret.locked());
  }
}

TEST_CASE("many small secrets get distinct slots across arenas and all come back",
          "[crypto][secure_memory]") {
  const size_t before = internal::GetSecretPoolStats().slots_in_use;
  const size_t count = 2 * internal::kSecretArenaSize / internal::kSecretSlotSize + 10;
  std::vector<SecretBytes> secrets;
  std::set<const uint8_t*> starts;
  for (size_t i = 0; i < count; ++i) {
    secrets.push_back(MustAllocate(1 + i % internal::kSecretSlotSize));
    starts.insert(secrets.back().span().data());
  }
  CHECK(starts.size() == count);
  // Slots never overlap: consecutive starts are at least a slot apart.
  const uint8_t* previous = nullptr;
  for (const uint8_t* p : starts) {
    if (previous != nullptr)
      CHECK(p - previous >= static_cast<ptrdiff_t>(internal::kSecretSlotSize));
    previous = p;
  }
  internal::SecretPoolStats stats = internal::GetSecretPoolStats();
  CHECK(stats.slots_in_use == before + count);
  CHECK(stats.arenas >= 3);
  secrets.clear();
  CHECK(internal::GetSecretPoolStats().slots_in_use == before);
}

int g_report_fd = -1;

// In a child process (the limit and the once-per-process flag are the process's): no
// CAP_IPC_LOCK (a root test run drops to uid 65534) and RLIMIT_MEMLOCK 0, so every mlock fails.
TEST_CASE("a failed mlock is reported once per process with the errno and RLIMIT_MEMLOCK",
          "[crypto][secure_memory]") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(90);
    rlimit none{0, 0};
    if (setrlimit(RLIMIT_MEMLOCK, &none) != 0) _exit(91);
    internal::ResetMlockReportForTest();
    g_report_fd = fds[1];
    SetMlockFailureHandler([](const std::string& m) {
      std::string line = m + "\n";
      if (write(g_report_fd, line.data(), line.size()) < 0) _exit(93);
    });
    for (int i = 0; i < 3; ++i) {
      auto s = SecretBytes::Allocate(3 * 4096);  // pages of its own: one mlock each
      if (!s.ok() || s->locked()) _exit(92);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);  // three failures, one report
  CHECK_THAT(out, Catch::StartsWith("mlock of 12288 bytes of secret memory failed ("));
  CHECK_THAT(out, Catch::Contains("; RLIMIT_MEMLOCK 0 bytes): secrets may be swapped out"));
  // EPERM with a zero limit and no CAP_IPC_LOCK (ENOMEM on kernels that check the size first).
  CHECK((out.find("Operation not permitted") != std::string::npos ||
         out.find("Cannot allocate memory") != std::string::npos));
}

}  // namespace
}  // namespace sealpool::crypto
