// Fake spawners for engine tests and fuzz targets.
#pragma once

#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// A spawner that starts no process: argv[0] names a program of its own, a
// C++ function that runs at once and returns the exit code; the exit is
// then reported on the strand as a real one's would be. An unknown name
// fails to spawn, as a missing binary does. For engine tests where the OS
// is not what is being tested. The programs:
//   true | false | exit CODE
//   echo WORDS...        the words, a line, to the task's stdout log
//   append LINE FILE     LINE, a line, appended to FILE
//   fails-once MARKER    exit 1 and create MARKER; exit 0 once it exists
//   hold                 runs until ReleaseHeld() (exit 0) or a signal (killed by it)
class ProgramSpawner final : public Spawner {
 public:
  using Program = std::function<int(const std::vector<std::string>& argv, const ExecLaunch&)>;
  ProgramSpawner() {
    programs_["true"] = [](const auto&, const auto&) { return 0; };
    programs_["false"] = [](const auto&, const auto&) { return 1; };
    programs_["exit"] = [](const auto& argv, const auto&) { return std::stoi(argv.at(1)); };
    programs_["echo"] = [](const auto& argv, const ExecLaunch& l) {
      std::ofstream out(l.stdout_path, std::ios::app);
      for (size_t i = 1; i < argv.size(); ++i) out << (i > 1 ? " " : "") << argv[i];
      out << "\n";
      return 0;
    };
    programs_["append"] = [](const auto& argv, const auto&) {
      std::ofstream(argv.at(2), std::ios::app) << argv.at(1) << "\n";
      return 0;
    };
    programs_["fails-once"] = [](const auto& argv, const auto&) {
      if (std::ifstream(argv.at(1)).good()) return 0;
      std::ofstream(argv.at(1)) << "";
      return 1;
    };
  }
  StatusOr<std::shared_ptr<Process>> Spawn(Strand strand, ExecLaunch launch) override {
    const auto& argv = launch.action->argv;
    if (argv.at(0) == "hold") {
      auto p = std::make_shared<HeldProcess>(strand, std::move(launch.on_exit));
      std::lock_guard lock(mu_);
      held_.push_back(p);
      ++spawned;
      return std::shared_ptr<Process>(p);
    }
    auto it = programs_.find(argv.at(0));
    if (it == programs_.end()) {
      return Status(StatusCode::kFailedPrecondition, "'" + argv[0] + "': no such fake program");
    }
    ExecOutcome outcome;
    outcome.exit_code = it->second(argv, launch);
    asio::post(strand, [on_exit = std::move(launch.on_exit), outcome] { on_exit(outcome); });
    ++spawned;
    return std::shared_ptr<Process>(std::make_shared<FakeProcess>());
  }
  // Ends every `hold` program still running, with exit code 0.
  void ReleaseHeld() {
    std::vector<std::weak_ptr<HeldProcess>> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (auto& w : held) {
      if (auto p = w.lock()) p->Exit(0, std::nullopt);
    }
  }
  std::atomic<int> spawned{0};

 private:
  class HeldProcess final : public Process {
   public:
    HeldProcess(Strand strand, std::function<void(ExecOutcome)> on_exit)
        : strand_(std::move(strand)), on_exit_(std::move(on_exit)) {}
    pid_t pid() const override { return 0x7ffffff1; }
    void SignalGroup(int sig) override { Exit(std::nullopt, sig); }
    void Exit(std::optional<int> code, std::optional<int> signal) {
      if (exited_.exchange(true)) return;
      ExecOutcome o;
      o.exit_code = code;
      o.signal = signal;
      asio::post(strand_, [on_exit = on_exit_, o] { on_exit(o); });
    }

   private:
    Strand strand_;
    std::function<void(ExecOutcome)> on_exit_;
    std::atomic<bool> exited_{false};
  };
  // No process: nothing to signal. Its pid is past any pid_max, so no
  // lookup in /proc finds a real process by it.
  class FakeProcess final : public Process {
   public:
    pid_t pid() const override { return 0x7ffffff0; }
    void SignalGroup(int) override {}
  };
  std::map<std::string, Program> programs_;
  std::mutex mu_;
  std::vector<std::weak_ptr<HeldProcess>> held_;
};

}  // namespace taskd::testing
