package broker

import (
	"testing"
)

func TestWireBufClasses(t *testing.T) {
	for _, size := range []int{0, 1, 5, 63, 64, 65, 256, 257, 1 << 10, 60000, 64 << 10} {
		wb := getWireBuf(size)
		if cap(wb.b) < size || wb.class < 0 || cap(wb.b) != classSize(wb.class) {
			t.Errorf("size %d: capacity %d, class %d", size, cap(wb.b), wb.class)
		}
		if wb.class > 0 && classSize(wb.class-1) >= size {
			t.Errorf("size %d: class %d is not the smallest that fits", size, wb.class)
		}
		if size > 64 && cap(wb.b) >= 2*size {
			t.Errorf("size %d: capacity %d is twice the size or more", size, cap(wb.b))
		}
		wb.release()
	}
	big := getWireBuf(64<<10 + 1)
	if big.class != -1 || cap(big.b) != 64<<10+1 {
		t.Errorf("a packet above every class: class %d, capacity %d", big.class, cap(big.b))
	}
	big.release()
}

func TestWireBufReferences(t *testing.T) {
	wb := getWireBuf(10)
	wb.b = append(wb.b, "0123456789"...)
	wb.retain()
	wb.release()
	if string(wb.b) != "0123456789" {
		t.Fatalf("bytes changed while a reference was held: %q", wb.b)
	}
	wb.release()
	if poisonReleased && string(wb.b[:10]) == "0123456789" {
		t.Error("released bytes were not poisoned")
	}
	defer func() {
		if recover() == nil {
			t.Error("a release without a reference did not panic")
		}
	}()
	wb.release()
}

// A buffer that grew past its class is not pooled: the pools keep only
// their own sizes.
func TestWireBufGrownIsNotPooled(t *testing.T) {
	wb := getWireBuf(10)
	wb.b = append(wb.b, make([]byte, 1000)...)
	wb.release() // must not panic or put a 1 KB array in the 64 B pool
	for range 100 {
		if got := getWireBuf(10); cap(got.b) != classSize(0) {
			t.Fatalf("the 64 B pool handed out %d bytes", cap(got.b))
		}
	}
}
