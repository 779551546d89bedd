#include "fiber_switch.h"

#include <cstdint>

#if CUDASIM_ASM_SWITCH
// caprese_cudasim_switch(void** save_sp /* rdi */, void* load_sp /* rsi */)
// Frame on a suspended stack, from its saved pointer up: mxcsr, x87 control word (8 bytes),
// r15, r14, r13, r12, rbx, rbp, return address.
asm(R"(
  .text
  .globl caprese_cudasim_switch
  .hidden caprese_cudasim_switch
  .type caprese_cudasim_switch,@function
caprese_cudasim_switch:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size caprese_cudasim_switch, .-caprese_cudasim_switch

  .globl caprese_cudasim_trampoline
  .hidden caprese_cudasim_trampoline
  .type caprese_cudasim_trampoline,@function
caprese_cudasim_trampoline:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size caprese_cudasim_trampoline, .-caprese_cudasim_trampoline
)");

extern "C" void caprese_cudasim_trampoline();

namespace cudasim {
namespace internal {

void* PrepareStack(char* stack_lo, size_t bytes, void (*entry)(Fiber*), Fiber* arg) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack_lo) + bytes) & ~uintptr_t{15};
  uint64_t* sp = reinterpret_cast<uint64_t*>(top - 16);  // 16-aligned after `ret`, as a call expects
  *--sp = reinterpret_cast<uint64_t>(&caprese_cudasim_trampoline);
  *--sp = 0;                                     // rbp
  *--sp = 0;                                     // rbx
  *--sp = reinterpret_cast<uint64_t>(arg);       // r12: the argument
  *--sp = reinterpret_cast<uint64_t>(entry);     // r13: the entry
  *--sp = 0;                                     // r14
  *--sp = 0;                                     // r15
  *--sp = 0x037Full << 32 | 0x1F80ull;           // x87 control word (high), mxcsr (low): the defaults
  return sp;
}

}  // namespace internal
}  // namespace cudasim
#endif
