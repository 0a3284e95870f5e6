"""crashcompat crash lab: real Debian kernel dumps and live kernels built with QEMU."""
