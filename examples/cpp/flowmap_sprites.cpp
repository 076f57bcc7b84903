// flowmap_sprites (C++): a sprite sheet of one-step samples from an image flow-map model, through
// the C API with RAII handles.
//
//   flowmap_sprites_cpp MODEL [--n 64] [--cols 8] [--steps 1] [--seed 7] [--out sprites.ppm]
//
// Same behaviour and output as examples/c/flowmap_sprites.c: a binary PPM sheet (grey replicated
// to RGB, alpha composited over black) and the time per image.
//
// Build: make examples   (or, after make install:
//        c++ -std=c++17 flowmap_sprites.cpp $(pkg-config --cflags --libs flowmap))

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "flowmap.h"

namespace {

// Throws with the library's message unless `st` is FLOWMAP_OK.
void check(flowmap_status st, const std::string &what) {
    if (st != FLOWMAP_OK)
        throw std::runtime_error(what + ": " + flowmap_last_error() + " (" +
                                 flowmap_status_name(st) + ")");
}

struct ModelFree {
    void operator()(flowmap_model *m) const { flowmap_model_free(m); }
};
struct WorkspaceFree {
    void operator()(flowmap_workspace *w) const { flowmap_workspace_free(w); }
};

struct Options {
    std::string model;
    std::size_t n = 64, cols = 8, steps = 1;
    std::uint64_t seed = 7;
    std::string out = "sprites.ppm";
};

std::size_t count(const char *s, std::size_t max, const char *what) {
    std::size_t pos = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(s ? s : "", &pos);
    } catch (const std::exception &) {
        pos = 0;
    }
    if (!s || s[0] == '-' || s[pos] != '\0' || v == 0 || v > max)
        throw std::invalid_argument(std::string(what) + " needs an integer in 1.." +
                                    std::to_string(max));
    return static_cast<std::size_t>(v);
}

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : nullptr;
        if (a == "-h" || a == "--help") {
            std::cout << "usage: " << argv[0]
                      << " MODEL [--n N (64)] [--cols C (8)] [--steps K (1)] [--seed S (7)]"
                         " [--out FILE (sprites.ppm)]\n";
            std::exit(0);
        } else if (a == "--n") {
            o.n = count(val, 1u << 20, "--n"), i++;
        } else if (a == "--cols") {
            o.cols = count(val, 4096, "--cols"), i++;
        } else if (a == "--steps") {
            o.steps = count(val, 1000, "--steps"), i++;
        } else if (a == "--seed") {
            if (!val || val[0] == '-')
                throw std::invalid_argument("--seed needs a non-negative integer");
            o.seed = std::stoull(val), i++;
        } else if (a == "--out") {
            if (!val)
                throw std::invalid_argument("--out needs a file name");
            o.out = val, i++;
        } else if (a.size() > 1 && a[0] == '-') {
            throw std::invalid_argument("unknown option " + a);
        } else if (o.model.empty()) {
            o.model = a;
        } else {
            throw std::invalid_argument("unexpected argument " + a);
        }
    }
    if (o.model.empty())
        throw std::invalid_argument("missing MODEL");
    return o;
}

} // namespace

int main(int argc, char **argv) {
    try {
        const Options o = parse(argc, argv);
        flowmap_model *raw = nullptr;
        check(flowmap_model_load(o.model.c_str(), &raw), o.model);
        std::unique_ptr<flowmap_model, ModelFree> model(raw);
        std::size_t dims[4] = {0, 0, 0, 0}, rank = 0;
        check(flowmap_model_data_shape(model.get(), dims, 4, &rank), "data shape");
        if (rank != 3 || dims[0] < 1 || dims[0] > 4)
            throw std::runtime_error(o.model + ": not an image model ([C, H, W], C in 1..4)");
        const std::size_t c = dims[0], h = dims[1], w = dims[2], dim = c * h * w;
        flowmap_workspace *wraw = nullptr;
        check(flowmap_workspace_new(model.get(), o.n, &wraw), "workspace");
        std::unique_ptr<flowmap_workspace, WorkspaceFree> ws(wraw);

        std::vector<float> data(o.n * dim);
        const auto t0 = std::chrono::steady_clock::now();
        check(flowmap_sample_seeded(model.get(), ws.get(), o.steps, o.seed, o.n, data.data()),
              "sampling");
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        std::vector<unsigned char> px(o.n * dim);
        check(flowmap_model_to_pixels(model.get(), data.data(), o.n, px.data(), px.size()),
              "pixels");

        const std::size_t rows = (o.n + o.cols - 1) / o.cols;
        const std::size_t sw = std::min(o.n, o.cols) * w, sh = rows * h;
        std::vector<unsigned char> sheet(sw * sh * 3, 0);
        for (std::size_t i = 0; i < o.n; i++) {
            const std::size_t ox = (i % o.cols) * w, oy = (i / o.cols) * h;
            for (std::size_t y = 0; y < h; y++)
                for (std::size_t x = 0; x < w; x++) {
                    const unsigned char *p = &px[i * dim + (y * w + x) * c];
                    unsigned char *q = &sheet[((oy + y) * sw + ox + x) * 3];
                    const unsigned a = (c == 2 || c == 4) ? p[c - 1] : 255u;
                    const unsigned rgb[3] = {p[0], c >= 3 ? p[1] : p[0], c >= 3 ? p[2] : p[0]};
                    for (int k = 0; k < 3; k++)
                        q[k] = static_cast<unsigned char>((rgb[k] * a + 127) / 255);
                }
        }
        std::ofstream f(o.out, std::ios::binary);
        f << "P6\n" << sw << " " << sh << "\n255\n";
        f.write(reinterpret_cast<const char *>(sheet.data()),
                static_cast<std::streamsize>(sheet.size()));
        if (!f.flush())
            throw std::runtime_error(o.out + ": cannot write");
        std::cout << o.out << ": " << o.n << " sprites of " << h << "x" << w << " (" << c
                  << " channel" << (c == 1 ? "" : "s") << "), " << o.steps << " step"
                  << (o.steps == 1 ? "" : "s") << ", sheet " << sw << "x" << sh << "\n";
        std::printf("time per image: %.3f ms (batch %zu, single thread)\n",
                    ms / static_cast<double>(o.n), o.n);
        return 0;
    } catch (const std::invalid_argument &e) {
        std::cerr << e.what() << "\n";
        return 2;
    } catch (const std::exception &e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
