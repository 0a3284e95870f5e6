p: gdb request failed: p ((struct crashme_obj *)0xffff8e8f996a46b0)-
