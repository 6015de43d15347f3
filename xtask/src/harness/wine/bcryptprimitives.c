/* bcryptprimitives.dll for Wine 8.0, which lacks it: Rust's standard
 * library (1.78 and later) takes its random bytes from
 * bcryptprimitives!ProcessPrng. This forwards to advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine has. Built from this source
 * by `cargo xtask test-windows` with MinGW and copied into the throwaway
 * Wine prefix's system32; never shipped, never used on real Windows. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
