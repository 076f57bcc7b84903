// flowmap_sample (C++): generate samples from a flow-map model with libflowmap through a small
// RAII wrapper over the C header.
//
//   flowmap_sample_cpp MODEL [--n 20000] [--steps 1,2] [--seed 7] [--out DIR] [--size 256]
//
// Same behaviour and output files as examples/c/flowmap_sample.c:
// DIR/samples_<k>step.csv and, for 2-D data, DIR/density_<k>step.ppm.
//
// Build: make examples   (or, after make install:
//        c++ -std=c++17 flowmap_sample.cpp $(pkg-config --cflags --libs flowmap))

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "flowmap.h"

namespace flowmap {

// A failed call: the status and the library's message.
class Error : public std::runtime_error {
  public:
    Error(flowmap_status status, const std::string &what)
        : std::runtime_error(what + ": " + flowmap_last_error() + " (" +
                             flowmap_status_name(status) + ")"),
          status_(status) {}
    flowmap_status status() const { return status_; }

  private:
    flowmap_status status_;
};

inline void check(flowmap_status status, const char *what) {
    if (status != FLOWMAP_OK)
        throw Error(status, what);
}

// Scratch memory for one thread.
class Workspace {
  public:
    flowmap_workspace *get() const { return ws_.get(); }

  private:
    friend class Model;
    explicit Workspace(flowmap_workspace *ws) : ws_(ws) {}
    struct Free {
        void operator()(flowmap_workspace *ws) const { flowmap_workspace_free(ws); }
    };
    std::unique_ptr<flowmap_workspace, Free> ws_;
};

// A loaded model: immutable, safe to share between threads (const methods only).
class Model {
  public:
    static Model load(const std::string &path) {
        flowmap_model *m = nullptr;
        check(flowmap_model_load(path.c_str(), &m), path.c_str());
        return Model(m);
    }

    std::size_t dim() const { return flowmap_model_dim(model_.get()); }

    std::vector<std::size_t> data_shape() const {
        std::size_t rank = 0;
        check(flowmap_model_data_shape(model_.get(), nullptr, 0, &rank), "data shape");
        std::vector<std::size_t> dims(rank);
        check(flowmap_model_data_shape(model_.get(), dims.data(), dims.size(), &rank),
              "data shape");
        return dims;
    }

    std::string metadata_json() const {
        std::size_t len = 0;
        check(flowmap_model_metadata_json(model_.get(), nullptr, 0, &len), "metadata");
        std::string json(len + 1, '\0');
        check(flowmap_model_metadata_json(model_.get(), &json[0], json.size(), &len), "metadata");
        json.resize(len);
        return json;
    }

    std::uint32_t format_version() const { return flowmap_model_format_version(model_.get()); }

    Workspace workspace(std::size_t max_batch) const {
        flowmap_workspace *ws = nullptr;
        check(flowmap_workspace_new(model_.get(), max_batch, &ws), "workspace");
        return Workspace(ws);
    }

    // n samples in `steps` uniform steps from the seeded generator.
    std::vector<float> sample_seeded(Workspace &ws, std::size_t steps, std::uint64_t seed,
                                     std::size_t n) const {
        std::vector<float> out(n * dim());
        check(flowmap_sample_seeded(model_.get(), ws.get(), steps, seed, n, out.data()),
              "sample");
        return out;
    }

    // X_{s,t}(x) for the points in x (n * dim floats).
    std::vector<float> map(Workspace &ws, float s, float t, const std::vector<float> &x) const {
        std::vector<float> out(x.size());
        check(flowmap_map(model_.get(), ws.get(), s, t, x.data(), x.size() / dim(), out.data()),
              "map");
        return out;
    }

  private:
    explicit Model(flowmap_model *m) : model_(m) {}
    struct Free {
        void operator()(flowmap_model *m) const { flowmap_model_free(m); }
    };
    std::unique_ptr<flowmap_model, Free> model_;
};

} // namespace flowmap

namespace {

struct Options {
    std::string model;
    std::size_t n = 20000;
    std::vector<std::size_t> steps{1, 2};
    std::uint64_t seed = 7;
    std::string out_dir = ".";
    int size = 256;
};

void usage(std::ostream &os, const char *argv0) {
    os << "usage: " << argv0
       << " MODEL [--n N] [--steps K1,K2,...] [--seed S] [--out DIR] [--size PX]\n";
}

std::uint64_t parse_uint(const std::string &s, const char *opt) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
        throw std::invalid_argument(std::string(opt) + " needs a non-negative integer");
    return std::stoull(s);
}

Options parse_args(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "-h" || a == "--help") {
            usage(std::cout, argv[0]);
            std::exit(0);
        } else if (a == "--n") {
            o.n = parse_uint(value(), "--n");
            if (o.n == 0)
                throw std::invalid_argument("--n must be > 0");
        } else if (a == "--steps") {
            o.steps.clear();
            std::stringstream ss(value());
            for (std::string tok; std::getline(ss, tok, ',');) {
                o.steps.push_back(parse_uint(tok, "--steps"));
                if (o.steps.back() == 0)
                    throw std::invalid_argument("--steps entries must be > 0");
            }
            if (o.steps.empty())
                throw std::invalid_argument("--steps needs a list like 1,2");
        } else if (a == "--seed") {
            o.seed = parse_uint(value(), "--seed");
        } else if (a == "--out") {
            o.out_dir = value();
        } else if (a == "--size") {
            auto v = parse_uint(value(), "--size");
            if (v == 0 || v > 4096)
                throw std::invalid_argument("--size needs an integer in 1..4096");
            o.size = static_cast<int>(v);
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

void write_csv(const std::string &path, const std::vector<float> &x, std::size_t dim) {
    std::FILE *f = std::fopen(path.c_str(), "w");
    if (!f)
        throw std::runtime_error("cannot write " + path);
    for (std::size_t j = 0; j < dim; j++)
        std::fprintf(f, "%sx%zu", j ? "," : "", j);
    std::fputc('\n', f);
    for (std::size_t i = 0; i < x.size() / dim; i++) {
        for (std::size_t j = 0; j < dim; j++)
            std::fprintf(f, "%s%.9g", j ? "," : "", static_cast<double>(x[i * dim + j]));
        std::fputc('\n', f);
    }
    if (std::fclose(f) != 0)
        throw std::runtime_error("cannot write " + path);
}

void write_density(const std::string &path, const std::vector<float> &x, const double lo[2],
                   const double hi[2], int size) {
    static const double stops[4][3] = {
        {0, 0, 4}, {120, 28, 109}, {237, 105, 37}, {252, 255, 164}};
    std::vector<unsigned> count(static_cast<std::size_t>(size) * size, 0);
    unsigned max = 0;
    for (std::size_t i = 0; i < x.size() / 2; i++) {
        double u = (x[2 * i] - lo[0]) / (hi[0] - lo[0]);
        double v = (x[2 * i + 1] - lo[1]) / (hi[1] - lo[1]);
        if (!(u >= 0.0 && u < 1.0 && v >= 0.0 && v < 1.0))
            continue;
        auto &c = count[static_cast<std::size_t>(size - 1 - int(v * size)) * size + int(u * size)];
        max = std::max(max, ++c);
    }
    std::vector<unsigned char> img(count.size() * 3);
    for (std::size_t i = 0; i < count.size(); i++) {
        double p = 3.0 * (max ? std::log1p(count[i]) / std::log1p(max) : 0.0);
        int k = p >= 3.0 ? 2 : static_cast<int>(p);
        double f = p - k;
        for (int c = 0; c < 3; c++)
            img[3 * i + c] = static_cast<unsigned char>(
                stops[k][c] + f * (stops[k + 1][c] - stops[k][c]) + 0.5);
    }
    std::ofstream out(path, std::ios::binary);
    out << "P6\n" << size << ' ' << size << "\n255\n";
    out.write(reinterpret_cast<const char *>(img.data()), static_cast<std::streamsize>(img.size()));
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

} // namespace

int main(int argc, char **argv) {
    Options o;
    try {
        o = parse_args(argc, argv);
    } catch (const std::exception &e) {
        std::cerr << e.what() << "\n";
        usage(std::cerr, argv[0]);
        return 2;
    }
    try {
        const auto model = flowmap::Model::load(o.model);
        const std::size_t dim = model.dim();
        std::filesystem::create_directories(o.out_dir);
        std::cout << "flowmap " << flowmap_version() << ": model " << o.model << " (format v"
                  << model.format_version() << "), data shape [";
        auto shape = model.data_shape();
        for (std::size_t j = 0; j < shape.size(); j++)
            std::cout << (j ? ", " : "") << shape[j];
        std::cout << "], dim " << dim << "\nsampling " << o.n << " points, seed " << o.seed
                  << "\n";

        auto ws = model.workspace(o.n);
        std::vector<std::vector<float>> runs;
        double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
        for (std::size_t steps : o.steps) {
            auto t0 = std::chrono::steady_clock::now();
            auto x = model.sample_seeded(ws, steps, o.seed, o.n);
            double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
            std::string path = o.out_dir + "/samples_" + std::to_string(steps) + "step.csv";
            write_csv(path, x, dim);
            std::printf("  %zu step%s: %8.2f ms (%.3f us/sample)  -> %s\n", steps,
                        steps == 1 ? " " : "s", ms, 1e3 * ms / double(o.n), path.c_str());
            for (std::size_t j = 0; j < dim && j < 2; j++) {
                double mean = 0, var = 0, mn = INFINITY, mx = -INFINITY;
                for (std::size_t i = 0; i < o.n; i++)
                    mean += x[i * dim + j];
                mean /= double(o.n);
                for (std::size_t i = 0; i < o.n; i++) {
                    double v = x[i * dim + j];
                    var += (v - mean) * (v - mean);
                    mn = std::min(mn, v);
                    mx = std::max(mx, v);
                }
                double sd = std::sqrt(var / double(o.n));
                std::printf("      x%zu: mean %+.4f  std %.4f\n", j, mean, sd);
                lo[j] = std::min(lo[j], std::max(mean - 4 * sd, mn));
                hi[j] = std::max(hi[j], std::min(mean + 4 * sd, mx));
            }
            runs.push_back(std::move(x));
        }
        if (dim == 2) {
            for (int j = 0; j < 2; j++) {
                double pad = 0.05 * (hi[j] - lo[j]) + 1e-6;
                lo[j] -= pad;
                hi[j] += pad;
            }
            for (std::size_t k = 0; k < runs.size(); k++) {
                std::string path =
                    o.out_dir + "/density_" + std::to_string(o.steps[k]) + "step.ppm";
                write_density(path, runs[k], lo, hi, o.size);
                std::printf("  density (%d x %d) -> %s\n", o.size, o.size, path.c_str());
            }
        }
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
