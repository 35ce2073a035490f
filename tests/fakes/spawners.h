// Fake spawners for engine tests and fuzz targets.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

#include "core/exec/exec_runner.h"

namespace taskd::testing {

// A spawner that refuses every process with `status` (a machine out of
// processes, or a fuzzer that must run none) and counts the attempts.
class FailingSpawner final : public Spawner {
 public:
  explicit FailingSpawner(Status status) : status_(std::move(status)) {}
  StatusOr<std::shared_ptr<Process>> Spawn(Strand, ExecLaunch) override {
    ++calls;
    return status_;
  }
  std::atomic<int> calls{0};

 private:
  Status status_;
};

}  // namespace taskd::testing
