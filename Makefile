# libflowmap: the C library (ffi/), its header (include/flowmap.h) and pkg-config file.
#
#   make lib                         build libflowmap.so / libflowmap.a (cargo, release), and
#                                    the libflowmap.so.0 link its SONAME names (ffi/build.rs)
#   make install PREFIX=/usr/local   install lib, header, flowmap.pc and flowmap-static.pc
#                                    (DESTDIR supported)
#   make install-strip               the same, with the shared library stripped
#   make uninstall PREFIX=...        remove what install put there
#   make examples                    build examples/c and examples/cpp against the build tree
#   make c-tests                     run the C ABI test suite (cargo test -p flowmap-ffi)
#
# After `make install PREFIX=$P`:
#   export PKG_CONFIG_PATH=$P/lib/pkgconfig
#   cc app.c $(pkg-config --cflags --libs flowmap) -o app          # shared
#   cc app.c $(pkg-config --cflags --libs flowmap-static) -o app   # libflowmap.a linked in
#
# Run-time search path: for a LIBDIR the loader does not search by default (anything but
# /lib, /usr/lib, /lib64, /usr/lib64 and their multiarch dirs: $HOME/.local/lib, /opt/...,
# also /usr/local/lib, which needs `ldconfig` after every install), flowmap.pc's Libs carry
# -Wl,-rpath,LIBDIR, so programs linked with pkg-config run as built. RPATH=no leaves it out
# (then run `ldconfig` or set LD_LIBRARY_PATH); RPATH=yes always puts it in.
#
# Variables: CARGO, CC, CXX, PROFILE (cargo profile, default release), CARGO_TARGET_DIR,
# PREFIX, LIBDIR, INCLUDEDIR, PKGCONFIGDIR, DESTDIR, STRIP, RPATH (auto|yes|no); NO_BUILD=1 makes `install` use
# the already built library in LIB_DIR (default $(CARGO_TARGET_DIR)/<profile dir>).

CARGO ?= cargo
CC ?= cc
CXX ?= c++
STRIP ?= strip
INSTALL ?= install
PROFILE ?= release
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR

PROFILE_DIR := $(if $(filter dev test,$(PROFILE)),debug,$(if $(filter bench,$(PROFILE)),release,$(PROFILE)))
LIB_DIR ?= $(CARGO_TARGET_DIR)/$(PROFILE_DIR)
EXAMPLES_DIR ?= $(LIB_DIR)/c-examples

# The workspace version ([workspace.package] in Cargo.toml), e.g. 0.1.0; SONAME major 0.
VERSION := $(shell sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
SOMAJOR := 0

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

, := ,
# Whether flowmap.pc's Libs carry an rpath (see above).
RPATH ?= auto
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
LOADER_DIRS := /lib /usr/lib /lib64 /usr/lib64 $(if $(MULTIARCH),/lib/$(MULTIARCH) /usr/lib/$(MULTIARCH))
PC_RPATH := $(if $(filter yes,$(RPATH)),-Wl$(,)-rpath$(,)$${libdir},$(if $(filter auto,$(RPATH)),$(if $(filter $(LOADER_DIRS),$(LIBDIR)),,-Wl$(,)-rpath$(,)$${libdir})))

EXAMPLE_CFLAGS ?= -O2 -Wall -Wextra -pedantic
EXAMPLE_CXXFLAGS ?= -O2 -Wall -Wextra

.PHONY: all lib install install-strip uninstall examples c-tests

all: lib

lib:
	$(CARGO) build --profile $(PROFILE) -p flowmap-ffi --lib

install: $(if $(NO_BUILD),,lib)
	@test -n "$(VERSION)" || { echo "cannot read the version from Cargo.toml" >&2; exit 1; }
	@case "$(RPATH)" in auto|yes|no) ;; *) echo "RPATH must be auto, yes or no (got $(RPATH))" >&2; exit 1;; esac
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0755 $(LIB_DIR)/libflowmap.so $(DESTDIR)$(LIBDIR)/libflowmap.so.$(VERSION)
	ln -sf libflowmap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libflowmap.so.$(SOMAJOR)
	ln -sf libflowmap.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libflowmap.so
	$(INSTALL) -m 0644 $(LIB_DIR)/libflowmap.a $(DESTDIR)$(LIBDIR)/libflowmap.a
	$(INSTALL) -m 0644 include/flowmap.h $(DESTDIR)$(INCLUDEDIR)/flowmap.h
	for pc in flowmap flowmap-static; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	      -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	      -e 's|@RPATH@|$(PC_RPATH)|g' -e 's| *$$||' \
	      ffi/$$pc.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/$$pc.pc && \
	  chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/$$pc.pc || exit 1; \
	done

install-strip: install
	$(STRIP) --strip-unneeded $(DESTDIR)$(LIBDIR)/libflowmap.so.$(VERSION)

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libflowmap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libflowmap.so.$(SOMAJOR) \
	      $(DESTDIR)$(LIBDIR)/libflowmap.so $(DESTDIR)$(LIBDIR)/libflowmap.a \
	      $(DESTDIR)$(INCLUDEDIR)/flowmap.h $(DESTDIR)$(PKGCONFIGDIR)/flowmap.pc \
	      $(DESTDIR)$(PKGCONFIGDIR)/flowmap-static.pc

# The examples run from the build tree: they find libflowmap.so.0 next to themselves.
examples: $(if $(NO_BUILD),,lib)
	mkdir -p $(EXAMPLES_DIR)
	ln -sf ../libflowmap.so $(EXAMPLES_DIR)/libflowmap.so.$(SOMAJOR)
	$(CC) -std=c99 $(EXAMPLE_CFLAGS) -Iinclude examples/c/flowmap_sample.c \
	    -L$(LIB_DIR) -Wl,-rpath,'$$ORIGIN' -lflowmap -lm -o $(EXAMPLES_DIR)/flowmap_sample
	$(CC) -std=c99 $(EXAMPLE_CFLAGS) -Iinclude examples/c/flowmap_sprites.c \
	    -L$(LIB_DIR) -Wl,-rpath,'$$ORIGIN' -lflowmap -o $(EXAMPLES_DIR)/flowmap_sprites
	$(CXX) -std=c++17 $(EXAMPLE_CXXFLAGS) -Iinclude examples/cpp/flowmap_sample.cpp \
	    -L$(LIB_DIR) -Wl,-rpath,'$$ORIGIN' -lflowmap -o $(EXAMPLES_DIR)/flowmap_sample_cpp
	$(CXX) -std=c++17 $(EXAMPLE_CXXFLAGS) -Iinclude examples/cpp/flowmap_sprites.cpp \
	    -L$(LIB_DIR) -Wl,-rpath,'$$ORIGIN' -lflowmap -o $(EXAMPLES_DIR)/flowmap_sprites_cpp
	@echo "built $(EXAMPLES_DIR)/flowmap_sample, flowmap_sprites, flowmap_sample_cpp and flowmap_sprites_cpp"

c-tests:
	$(CARGO) test -p flowmap-ffi
