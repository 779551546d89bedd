// The smallest context switch the simulator needs: save the callee-saved registers and the
// floating-point control words on the current stack, store its pointer, load another.
// x86-64 (System V) has it in assembly (a few ns, no system call); elsewhere ucontext.
#pragma once

#include <cstddef>

namespace cudasim {
namespace internal {

struct Fiber;

#if defined(__x86_64__)
extern "C" void caprese_cudasim_switch(void** save_sp, void* load_sp);
// Prepares a stack so that the first switch to it calls entry(arg) (which must never return).
void* PrepareStack(char* stack_lo, size_t bytes, void (*entry)(Fiber*), Fiber* arg);
#define CUDASIM_ASM_SWITCH 1
#else
#define CUDASIM_ASM_SWITCH 0
#endif

}  // namespace internal
}  // namespace cudasim
