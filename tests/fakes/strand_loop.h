// StrandLoop: a strand on an io_context that the test runs by hand, and a
// ManualClock, for engine units that post to a strand and arm timers:
// deterministic, no threads.
#pragma once

#include "core/model/asio.h"
#include "core/model/clock.h"

namespace taskd::testing {

struct StrandLoop {
  asio::io_context io;
  Strand strand = asio::make_strand(io);
  ManualClock clock;

  // Runs every handler that is ready now.
  void Run() {
    io.restart();
    io.poll();
  }
  // Moves the clock on, then runs what became due.
  void Advance(Duration d) {
    clock.Advance(d);
    Run();
  }
};

}  // namespace taskd::testing
