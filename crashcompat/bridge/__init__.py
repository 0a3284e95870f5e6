"""The bridge: ``crashcompat-gdbserver``, a separate process that reads any dump drgn reads and serves it
to GDB over GDB's remote protocol (:mod:`.server`), plus its binary memory lane (:mod:`.lane`).

Only :mod:`.server` uses drgn; GDB's side of crashcompat (:mod:`crashcompat.gdb`) imports :mod:`.lane`
alone, which imports nothing that can reach drgn (drgn's bundled libdw crashes GDB).  Importing this
package itself imports nothing.
"""
