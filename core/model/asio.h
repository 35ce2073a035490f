// The project's one way to include Boost.Asio (Boost 1.74 = Asio 1.18).
//
// GCC 12 fails inside boost/asio/awaitable.hpp unless <utility> comes first,
// and clang (and clang-tidy) only enable Asio's coroutine support when told.
#pragma once

#include <type_traits>
#include <utility>  // must precede Asio: GCC 12 + boost/asio/awaitable.hpp

#if defined(__clang__)
#ifndef BOOST_ASIO_HAS_CO_AWAIT
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif
#ifndef BOOST_ASIO_HAS_STD_COROUTINE
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif
#endif

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace taskd {
namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;

// Runs `work` (blocking: a store read, an unlink) on the io_context under
// `strand`, not on the strand, then `then(work's result)` — or `then()` when
// it returns nothing — back on the strand.
template <typename Work, typename Then>
void RunOffStrand(const Strand& strand, Work work, Then then) {
  asio::post(strand.get_inner_executor(),
             [strand, work = std::move(work), then = std::move(then)]() mutable {
               if constexpr (std::is_void_v<decltype(work())>) {
                 work();
                 asio::post(strand, std::move(then));
               } else {
                 asio::post(strand, [then = std::move(then), result = work()]() mutable {
                   then(std::move(result));
                 });
               }
             });
}
}  // namespace taskd
