// One server-streaming write reactor for WatchTasks and ReadTaskLogs.
//
// A streaming call's state lives on its own strand (StreamState, shared with
// the handlers it posts) and its reactor (StreamWriter) is gRPC's. gRPC calls
// the reactor on its threads; the reactor only posts onto the strand, where
// the state writes one message at a time, learns of the client's cancel, and
// finishes the call once. What a call streams is the subclass's: it says
// what to write next in Pump(), and what to release in OnStop().
//
// The rules that took two bugs to learn are kept here once:
//  - a write may complete fine after the cancel came: the call ends then,
//    or nothing would end it (and a watcher's --max-watchers place would be
//    held for good);
//  - after Finish, nothing touches the reactor: OnDone may delete it from
//    then on, so `finished` is checked by every handler that runs later.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "core/model/asio.h"

namespace taskd::server {

class StreamWriter;

class StreamState {
 public:
  explicit StreamState(Strand strand) : strand_(strand) {}
  virtual ~StreamState() = default;
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;

  const Strand& strand() const { return strand_; }

  // On the strand, all of them.
  bool writing() const { return writing_; }
  bool finished() const { return finished_; }
  // Starts writing `message` (taken over; the previous one is released).
  // Only when !writing() and !finished().
  void StartWrite(grpc::ByteBuffer* message);
  // Ends the call with `status`, once: OnStop() first, then Finish. Later
  // calls do nothing.
  void Stop(const grpc::Status& status);

 protected:
  // On the strand: a write completed and the call goes on (not called once
  // finished). Write the next message, or wait for one, or Stop.
  virtual void Pump() = 0;
  // On the strand, once, before Finish: release what the call holds.
  virtual void OnStop() {}
  // On a gRPC thread after the call ended (the reactor is being deleted).
  virtual void OnDone() {}

 private:
  friend class StreamWriter;
  Strand strand_;
  StreamWriter* reactor_ = nullptr;
  grpc::ByteBuffer in_flight_;  // the message being written
  bool writing_ = false;
  bool cancelled_ = false;  // OnCancel came, perhaps while a write was in flight
  bool finished_ = false;   // Finish was called: the reactor may be gone
};

class StreamWriter final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit StreamWriter(std::shared_ptr<StreamState> state) : state_(std::move(state)) {
    state_->reactor_ = this;
  }

  void OnWriteDone(bool ok) override {
    auto st = state_;
    asio::post(st->strand_, [st, ok] {
      st->writing_ = false;
      if (st->finished_) return;
      if (!ok || st->cancelled_) {
        st->Stop(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      } else {
        st->Pump();
      }
    });
  }
  void OnCancel() override {
    auto st = state_;
    asio::post(st->strand_, [st] {
      st->cancelled_ = true;
      // A write in flight stops the call from OnWriteDone.
      if (!st->writing_) st->Stop(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    });
  }
  void OnDone() override {
    state_->OnDone();
    delete this;
  }

 private:
  std::shared_ptr<StreamState> state_;
};

inline void StreamState::StartWrite(grpc::ByteBuffer* message) {
  in_flight_.Swap(message);
  writing_ = true;
  reactor_->StartWrite(&in_flight_);
}

inline void StreamState::Stop(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  OnStop();
  reactor_->Finish(status);  // the last touch: OnDone may run from here on
}

}  // namespace taskd::server
