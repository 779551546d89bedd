// Library info, contexts, buffers, copies, events and the per-thread last error.
#include <cstddef>
#include <string>
#include <thread>

#include "test_util.h"

using namespace caprese_test;

TEST(Library, VersionMatchesHeader) {
  std::string want = std::to_string(CAPRESE_VERSION_MAJOR) + "." + std::to_string(CAPRESE_VERSION_MINOR) + "." +
                     std::to_string(CAPRESE_VERSION_PATCH);
  EXPECT_EQ(std::string(caprese_version()), want);
  EXPECT_EQ(caprese_abi_version(), CAPRESE_ABI_VERSION);
}

TEST(Library, StatusStringsNeverNull) {
  for (int s = 0; s <= 10; ++s) {
    const char* str = caprese_status_string(static_cast<caprese_status>(s));
    ASSERT_NE(str, nullptr);
    EXPECT_GT(std::string(str).size(), 0u);
  }
}

TEST(Library, StructLayoutMatchesHeader) {
  struct Expect {
    int32_t id;
    size_t size;
    std::vector<size_t> offsets;
  };
  std::vector<Expect> all = {
      {CAPRESE_STRUCT_TENSOR, sizeof(caprese_tensor),
       {offsetof(caprese_tensor, data), offsetof(caprese_tensor, dtype), offsetof(caprese_tensor, ndim),
        offsetof(caprese_tensor, shape)}},
      {CAPRESE_STRUCT_CONTEXT_OPTIONS, sizeof(caprese_context_options),
       {offsetof(caprese_context_options, backend), offsetof(caprese_context_options, device),
        offsetof(caprese_context_options, num_threads), offsetof(caprese_context_options, flags),
        offsetof(caprese_context_options, stream)}},
      {CAPRESE_STRUCT_ATTENTION_PARAMS, sizeof(caprese_attention_params),
       {offsetof(caprese_attention_params, pos0), offsetof(caprese_attention_params, sliding_window),
        offsetof(caprese_attention_params, scale), offsetof(caprese_attention_params, softcap)}},
      {CAPRESE_STRUCT_DEVICE_INFO, sizeof(caprese_device_info),
       {offsetof(caprese_device_info, name), offsetof(caprese_device_info, total_memory_bytes),
        offsetof(caprese_device_info, compute_major), offsetof(caprese_device_info, compute_minor),
        offsetof(caprese_device_info, multiprocessor_count), offsetof(caprese_device_info, memory_bus_width_bits),
        offsetof(caprese_device_info, memory_clock_khz), offsetof(caprese_device_info, l2_cache_bytes)}},
  };
  for (const Expect& e : all) {
    int64_t size = 0, offsets[16];
    int32_t count = 0;
    CAPRESE_ASSERT_OK(caprese_struct_layout(e.id, &size, offsets, 16, &count));
    EXPECT_EQ(size, static_cast<int64_t>(e.size)) << "struct " << e.id;
    ASSERT_EQ(count, static_cast<int32_t>(e.offsets.size())) << "struct " << e.id;
    for (int32_t i = 0; i < count; ++i) EXPECT_EQ(offsets[i], static_cast<int64_t>(e.offsets[i])) << e.id << "/" << i;
  }
  // Capacity 0 reports the field count only.
  int64_t size = 0;
  int32_t count = 0;
  CAPRESE_ASSERT_OK(caprese_struct_layout(CAPRESE_STRUCT_TENSOR, &size, nullptr, 0, &count));
  EXPECT_EQ(count, 4);
  EXPECT_EQ(caprese_struct_layout(99, &size, nullptr, 0, &count), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("id"));
  EXPECT_EQ(caprese_struct_layout(CAPRESE_STRUCT_TENSOR, nullptr, nullptr, 0, &count), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("size"));
}

TEST(Context, CreateDestroyCpu) {
  for (int threads : {0, 1, 2, 3}) {
    Context ctx(CAPRESE_BACKEND_CPU, threads);
    ASSERT_TRUE(ctx.ok()) << ctx.message;
    int32_t backend = -1;
    CAPRESE_ASSERT_OK(caprese_context_backend(ctx, &backend));
    EXPECT_EQ(backend, CAPRESE_BACKEND_CPU);
    void* stream = reinterpret_cast<void*>(1);
    CAPRESE_ASSERT_OK(caprese_context_get_stream(ctx, &stream));
    EXPECT_EQ(stream, nullptr);
    CAPRESE_ASSERT_OK(caprese_context_set_stream(ctx, nullptr));
    CAPRESE_ASSERT_OK(caprese_context_synchronize(ctx));
  }
  EXPECT_EQ(caprese_context_destroy(nullptr), CAPRESE_OK);
}

TEST(Context, CpuRejectsStreams) {
  Context ctx;
  int dummy = 0;
  EXPECT_EQ(caprese_context_set_stream(ctx, &dummy), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("stream"));
  caprese_context_options opt{};
  opt.backend = CAPRESE_BACKEND_CPU;
  opt.stream = &dummy;
  caprese_context_t c = reinterpret_cast<caprese_context_t>(1);
  EXPECT_EQ(caprese_context_create(&opt, &c), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);
  EXPECT_TRUE(LastErrorMentions("stream"));
}

TEST(Context, BadOptions) {
  caprese_context_t c = nullptr;
  caprese_context_options opt{};
  EXPECT_EQ(caprese_context_create(nullptr, &c), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("options"));
  EXPECT_EQ(caprese_context_create(&opt, nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("out"));
  opt.flags = 1;
  EXPECT_EQ(caprese_context_create(&opt, &c), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("flags"));
  opt.flags = 0;
  opt.num_threads = -1;
  EXPECT_EQ(caprese_context_create(&opt, &c), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("num_threads"));
  opt.num_threads = 0;
  opt.backend = 7;
  EXPECT_EQ(caprese_context_create(&opt, &c), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("backend"));
  EXPECT_EQ(c, nullptr);
  int32_t backend = 0;
  EXPECT_EQ(caprese_context_backend(nullptr, &backend), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("ctx"));
  EXPECT_EQ(caprese_context_synchronize(nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(caprese_backend_probe(5), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("backend"));
}

TEST(Context, CudaUnavailableIsAnErrorNotACpuFallback) {
  EXPECT_EQ(caprese_backend_probe(CAPRESE_BACKEND_CPU), CAPRESE_OK);
  caprese_status probe = caprese_backend_probe(CAPRESE_BACKEND_CUDA);
  caprese_context_options opt{};
  opt.backend = CAPRESE_BACKEND_CUDA;
  caprese_context_t c = nullptr;
  caprese_status create = caprese_context_create(&opt, &c);
  if (probe == CAPRESE_OK) {  // a machine with a GPU and the plugin
    ASSERT_EQ(create, CAPRESE_OK) << caprese_last_error();
    int32_t backend = -1;
    CAPRESE_ASSERT_OK(caprese_context_backend(c, &backend));
    EXPECT_EQ(backend, CAPRESE_BACKEND_CUDA);
    caprese_context_destroy(c);
    return;
  }
  EXPECT_EQ(probe, CAPRESE_ERROR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(create, CAPRESE_ERROR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(c, nullptr);
  EXPECT_GT(std::string(caprese_last_error()).size(), 0u);
  EXPECT_TRUE(LastErrorMentions("CUDA"));
  int32_t count = -1;
  caprese_status st = caprese_cuda_device_count(&count);
  EXPECT_NE(st, CAPRESE_OK);
  EXPECT_EQ(count, 0);
}

TEST(Buffer, ZeroedAlignedAndSized) {
  Context ctx;
  for (size_t bytes : {size_t{1}, size_t{3}, size_t{64}, size_t{1000}, size_t{1} << 20}) {
    Buffer b(ctx, bytes);
    ASSERT_EQ(b.status, CAPRESE_OK) << caprese_last_error();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
    size_t size = 0;
    CAPRESE_ASSERT_OK(caprese_buffer_size(b.handle(), &size));
    EXPECT_EQ(size, bytes);
    const unsigned char* p = static_cast<const unsigned char*>(b.data());
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(p[i], 0) << "byte " << i;
  }
}

TEST(Buffer, BadArguments) {
  Context ctx;
  caprese_buffer_t b = reinterpret_cast<caprese_buffer_t>(1);
  EXPECT_EQ(caprese_buffer_create(ctx, 0, &b), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(b, nullptr);
  EXPECT_TRUE(LastErrorMentions("bytes"));
  EXPECT_EQ(caprese_buffer_create(nullptr, 16, &b), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("ctx"));
  EXPECT_EQ(caprese_buffer_create(ctx, 16, nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("out"));
  // More than any machine has: a clean OUT_OF_MEMORY naming the size.
  EXPECT_EQ(caprese_buffer_create(ctx, SIZE_MAX - 8, &b), CAPRESE_ERROR_OUT_OF_MEMORY);
  EXPECT_TRUE(LastErrorMentions(std::to_string(SIZE_MAX - 8)));
  EXPECT_EQ(caprese_buffer_create(ctx, size_t{1} << 60, &b), CAPRESE_ERROR_OUT_OF_MEMORY);
  EXPECT_TRUE(LastErrorMentions(std::to_string(size_t{1} << 60)));
  void* data = nullptr;
  size_t size = 0;
  EXPECT_EQ(caprese_buffer_data(nullptr, &data), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("buffer"));
  EXPECT_EQ(caprese_buffer_size(nullptr, &size), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(caprese_buffer_destroy(nullptr), CAPRESE_OK);
}

TEST(Buffer, OutlivesItsContext) {
  caprese_context_options opt{};
  caprese_context_t ctx = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_create(&opt, &ctx));
  caprese_buffer_t buf = nullptr;
  caprese_event_t ev = nullptr;
  CAPRESE_ASSERT_OK(caprese_buffer_create(ctx, 256, &buf));
  CAPRESE_ASSERT_OK(caprese_event_create(ctx, &ev));
  CAPRESE_ASSERT_OK(caprese_event_record(ctx, ev));
  CAPRESE_ASSERT_OK(caprese_context_destroy(ctx));
  void* data = nullptr;
  CAPRESE_ASSERT_OK(caprese_buffer_data(buf, &data));
  static_cast<char*>(data)[255] = 1;  // still valid memory
  CAPRESE_ASSERT_OK(caprese_event_synchronize(ev));
  CAPRESE_ASSERT_OK(caprese_buffer_destroy(buf));
  CAPRESE_ASSERT_OK(caprese_event_destroy(ev));
}

TEST(Buffer, CopyEveryKindAndMemset) {
  Context ctx;
  Buffer a(ctx, 1024), b(ctx, 1024);
  std::vector<unsigned char> src(1024), dst(1024);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 7 + 3);
  for (int kind = CAPRESE_COPY_HOST_TO_HOST; kind <= CAPRESE_COPY_DEVICE_TO_DEVICE; ++kind) {
    CAPRESE_ASSERT_OK(caprese_memset(ctx, a.data(), 0, 1024));
    CAPRESE_ASSERT_OK(caprese_copy(ctx, a.data(), src.data(), 1024, static_cast<caprese_copy_kind>(kind)));
    CAPRESE_ASSERT_OK(caprese_copy(ctx, b.data(), a.data(), 1024, static_cast<caprese_copy_kind>(kind)));
    std::fill(dst.begin(), dst.end(), 0);
    CAPRESE_ASSERT_OK(caprese_copy(ctx, dst.data(), b.data(), 1024, static_cast<caprese_copy_kind>(kind)));
    EXPECT_EQ(dst, src) << "kind " << kind;
  }
  CAPRESE_ASSERT_OK(caprese_memset(ctx, a.data(), 0xAB, 100));
  CAPRESE_ASSERT_OK(caprese_copy(ctx, dst.data(), a.data(), 1024, CAPRESE_COPY_DEVICE_TO_HOST));
  for (size_t i = 0; i < 1024; ++i) ASSERT_EQ(dst[i], i < 100 ? 0xAB : src[i]) << i;
  // Zero bytes is a no-op even with NULL pointers.
  CAPRESE_ASSERT_OK(caprese_copy(ctx, nullptr, nullptr, 0, CAPRESE_COPY_HOST_TO_HOST));
  CAPRESE_ASSERT_OK(caprese_memset(ctx, nullptr, 0, 0));
  // Bad arguments.
  EXPECT_EQ(caprese_copy(ctx, nullptr, src.data(), 4, CAPRESE_COPY_HOST_TO_HOST), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("dst"));
  EXPECT_EQ(caprese_copy(ctx, dst.data(), nullptr, 4, CAPRESE_COPY_HOST_TO_HOST), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("src"));
  EXPECT_EQ(caprese_copy(ctx, dst.data(), src.data(), 4, 9),
            CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("kind"));
  EXPECT_EQ(caprese_copy(nullptr, dst.data(), src.data(), 4, CAPRESE_COPY_HOST_TO_HOST), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("ctx"));
  EXPECT_EQ(caprese_memset(ctx, nullptr, 0, 4), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("dst"));
}

TEST(Event, ElapsedIsNonNegative) {
  Context ctx;
  caprese_event_t a = nullptr, b = nullptr;
  CAPRESE_ASSERT_OK(caprese_event_create(ctx, &a));
  CAPRESE_ASSERT_OK(caprese_event_create(ctx, &b));
  float ms = -1;
  // Never recorded: an error, not garbage.
  EXPECT_EQ(caprese_event_elapsed_ms(a, b, &ms), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("recorded"));
  CAPRESE_ASSERT_OK(caprese_event_record(ctx, a));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CAPRESE_ASSERT_OK(caprese_event_record(ctx, b));
  CAPRESE_ASSERT_OK(caprese_event_synchronize(b));
  CAPRESE_ASSERT_OK(caprese_event_elapsed_ms(a, b, &ms));
  EXPECT_GE(ms, 1.0f);
  EXPECT_LT(ms, 10000.0f);
  CAPRESE_ASSERT_OK(caprese_event_elapsed_ms(a, a, &ms));
  EXPECT_EQ(ms, 0.0f);
  EXPECT_EQ(caprese_event_elapsed_ms(nullptr, b, &ms), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("start"));
  EXPECT_EQ(caprese_event_elapsed_ms(a, nullptr, &ms), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("end"));
  EXPECT_EQ(caprese_event_elapsed_ms(a, b, nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("ms"));
  EXPECT_EQ(caprese_event_record(ctx, nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("event"));
  // An event belongs to its context.
  Context other;
  EXPECT_EQ(caprese_event_record(other, a), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("event"));
  caprese_event_t c = nullptr;
  CAPRESE_ASSERT_OK(caprese_event_create(other, &c));
  CAPRESE_ASSERT_OK(caprese_event_record(other, c));
  EXPECT_EQ(caprese_event_elapsed_ms(a, c, &ms), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("different contexts"));
  caprese_event_destroy(c);
  EXPECT_EQ(caprese_event_create(nullptr, &c), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(caprese_event_synchronize(nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  caprese_event_destroy(a);
  caprese_event_destroy(b);
  EXPECT_EQ(caprese_event_destroy(nullptr), CAPRESE_OK);
}

TEST(LastError, IsPerThreadAndNeverNull) {
  caprese_clear_last_error();
  ASSERT_NE(caprese_last_error(), nullptr);
  EXPECT_STREQ(caprese_last_error(), "");
  EXPECT_EQ(caprese_context_synchronize(nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  std::string main_msg = caprese_last_error();
  EXPECT_FALSE(main_msg.empty());

  std::string other_before, other_after;
  bool other_null = true;
  std::thread t([&] {
    other_null = caprese_last_error() == nullptr;
    other_before = caprese_last_error();  // main thread's failure must not show here
    caprese_buffer_size(nullptr, nullptr);
    other_after = caprese_last_error();
  });
  t.join();
  EXPECT_FALSE(other_null);
  EXPECT_EQ(other_before, "");
  EXPECT_TRUE(other_after.find("buffer") != std::string::npos) << other_after;
  EXPECT_EQ(std::string(caprese_last_error()), main_msg);  // thread B's failure not visible here
  // Success leaves the message alone; clearing empties it.
  Context ctx;
  EXPECT_EQ(std::string(caprese_last_error()), main_msg);
  caprese_clear_last_error();
  EXPECT_STREQ(caprese_last_error(), "");
}

TEST(Profiling, Toggle) {
  int32_t before = caprese_profiling_enabled();
  CAPRESE_ASSERT_OK(caprese_set_profiling(1));
  EXPECT_EQ(caprese_profiling_enabled(), 1);
  CAPRESE_ASSERT_OK(caprese_set_profiling(0));
  EXPECT_EQ(caprese_profiling_enabled(), 0);
  caprese_set_profiling(before);
}
