/*
 * bcryptprimitives.dll for Wine versions that lack it (Debian 12 ships
 * Wine 8.0): the Go runtime on Windows takes its random numbers from
 * ProcessPrng in that library and stops at start without it. This one
 * answers from RtlGenRandom (advapi32's SystemFunction036), which Wine
 * has. Only the Windows smoke test under Wine uses it; real Windows has
 * the library since Windows 8.
 */
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!RtlGenRandom(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
