// The equilibrium solvers and gradients on a small contractive map
// f(z) = tanh(z Wᵀ + x Uᵀ + b), ‖W‖₂ = 0.6, in double precision.
#include <gtest/gtest.h>

#include "../fixture_paths.h"
#include "vpet/error.h"
#include "vpet/io/safetensors.h"
#include "vpet/peft/deq.h"

namespace vpet::peft {
namespace {

struct SmallMap {
  torch::Tensor w, u, b, x;

  // `contraction`: ‖W‖₂; `scale`: of the input (small: tanh near-linear).
  explicit SmallMap(std::uint64_t seed, double contraction = 0.6, double scale = 1.0) {
    torch::Generator generator = at::detail::createCPUGenerator(seed);
    const auto options = torch::TensorOptions().dtype(torch::kFloat64);
    w = torch::randn({6, 6}, generator, options);
    w = (w * (contraction / torch::linalg_svdvals(w).max())).detach().requires_grad_(true);
    u = torch::randn({6, 5}, generator, options).requires_grad_(true);
    b = torch::randn({6}, generator, options).requires_grad_(true);
    x = (scale * torch::randn({4, 5}, generator, options)).detach().requires_grad_(true);
  }
  FixedPointMap map() const {
    return [this](const torch::Tensor& z) {
      return torch::tanh(torch::linear(z, w) + torch::linear(x, u, b));
    };
  }
  torch::Tensor start() const { return torch::zeros({4, 6}, torch::kFloat64); }
  std::vector<torch::Tensor> inputs() const { return {w, u, b, x}; }
};

// d(Σ z* ⊙ c)/d(w, u, b, x), z* from `solve`.
std::vector<torch::Tensor> gradients(const SmallMap& m,
                                     const std::function<torch::Tensor()>& solve) {
  const torch::Tensor weights = torch::linspace(-1.0, 1.0, 24, torch::kFloat64).view({4, 6});
  const torch::Tensor loss = (solve() * weights).sum();
  return torch::autograd::grad({loss}, m.inputs());
}

double relative_error(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, (a[i] - b[i]).norm().item<double>() / b[i].norm().item<double>());
  }
  return worst;
}

TEST(Deq, SolvesBelowTheToleranceAndAndersonNeedsFewerEvaluations) {
  // Slow for plain iteration: nearly linear, contraction 0.95.
  const SmallMap m(1, 0.95, 0.1);
  DeqOptions options;
  SolveStats fixed, anderson;
  const torch::Tensor z1 =
      solve_fixed_point(m.map(), m.start(), DeqSolver::FixedPoint, 200, 1e-8, options, fixed);
  const torch::Tensor z2 =
      solve_fixed_point(m.map(), m.start(), DeqSolver::Anderson, 200, 1e-8, options, anderson);
  for (const torch::Tensor& z : {z1, z2}) {
    torch::NoGradGuard no_grad;
    const torch::Tensor fz = m.map()(z);
    EXPECT_LT((fz - z).norm().item<double>() / fz.norm().item<double>(), 1e-6);
  }
  EXPECT_TRUE(fixed.converged && anderson.converged);
  EXPECT_LT(anderson.evaluations, fixed.evaluations);
  EXPECT_LT(anderson.residual, 1e-6);
}

// Broyden against tests/fixtures/make_deq_fixtures.py, the DEQ/MDEQ code's
// broyden (locuslab/deq lib/solvers.py) written out in PyTorch: the same
// iterate, the same number of evaluations and the same lowest residual, on
// a map it solves and on one whose budget runs out first.
TEST(Deq, BroydenIsTheDeqCodesBroyden) {
  const io::TensorMap fixture = io::read_safetensors(vpet::test::kVit + "broyden.safetensors");
  for (const std::string name : {"linear", "budget"}) {
    const auto at = [&](const std::string& key) {
      const torch::Tensor* found = fixture.find(name + "/" + key);
      if (!found) throw std::runtime_error("broyden.safetensors has no " + name + "/" + key);
      return *found;
    };
    const torch::Tensor w = at("w"), u = at("u"), b = at("b"), x = at("x");
    const FixedPointMap f = [w, u, b, x](const torch::Tensor& z) {
      return torch::tanh(torch::linear(z, w) + torch::linear(x, u, b));
    };
    const auto settings = at("settings");
    SolveStats stats;
    const torch::Tensor z = solve_fixed_point(
        f, torch::zeros({4, 6}, torch::kFloat64), DeqSolver::Broyden,
        std::int64_t(settings[0].item<double>()), settings[1].item<double>(), DeqOptions(), stats);
    EXPECT_TRUE(torch::allclose(z, at("result"), 1e-9, 1e-12)) << name;
    EXPECT_EQ(stats.evaluations, at("evaluations")[0].item<std::int64_t>()) << name;
    EXPECT_NEAR(stats.residual, at("residual")[0].item<double>(),
                1e-6 * at("residual")[0].item<double>())
        << name;
    EXPECT_EQ(stats.converged, name == "linear");
  }
  // On the slow map of the first test, fewer evaluations than plain iteration.
  const SmallMap m(1, 0.95, 0.1);
  SolveStats fixed, broyden;
  solve_fixed_point(m.map(), m.start(), DeqSolver::FixedPoint, 200, 1e-8, DeqOptions(), fixed);
  solve_fixed_point(m.map(), m.start(), DeqSolver::Broyden, 200, 1e-8, DeqOptions(), broyden);
  EXPECT_TRUE(broyden.converged);
  EXPECT_LT(broyden.evaluations, fixed.evaluations);
}

TEST(Deq, ReportsASolveThatDoesNotConverge) {
  const SmallMap m(2);
  DeqOptions options;
  SolveStats stats;
  solve_fixed_point(m.map(), m.start(), DeqSolver::FixedPoint, 3, 1e-12, options, stats);
  EXPECT_FALSE(stats.converged);
  EXPECT_EQ(stats.evaluations, 3);
  EXPECT_GT(stats.residual, 1e-12);
}

TEST(Deq, ImplicitGradientMatchesALongUnrolledSolve) {
  const SmallMap m(3);
  const auto unrolled = gradients(m, [&] {
    torch::Tensor z = m.start();
    for (int k = 0; k < 200; ++k) z = m.map()(z);
    return z;
  });
  for (DeqSolver solver : {DeqSolver::FixedPoint, DeqSolver::Anderson, DeqSolver::Broyden}) {
    DeqOptions options;
    options.solver = solver;
    options.tol = 1e-10;
    options.max_iter = 200;
    options.backward_tol = 1e-10;
    options.backward_max_iter = 200;
    DeqStats stats;
    const auto implicit =
        gradients(m, [&] { return equilibrium(m.map(), m.start(), options, stats); });
    EXPECT_LE(relative_error(implicit, unrolled), 1e-3);
    EXPECT_GT(stats.backward->evaluations, 0);
    EXPECT_TRUE(stats.backward->converged);
  }
}

TEST(Deq, PhantomGradientsApproachItAsStepsGrow) {
  const SmallMap m(4);
  DeqOptions exact;
  exact.tol = exact.backward_tol = 1e-10;
  exact.max_iter = exact.backward_max_iter = 200;
  DeqStats stats;
  const auto implicit = gradients(m, [&] { return equilibrium(m.map(), m.start(), exact, stats); });
  double previous = 1e9;
  for (std::int64_t steps : {1, 4, 16, 64}) {
    DeqOptions options = exact;
    options.gradient = DeqGradient::Phantom;
    options.phantom_steps = steps;
    const auto phantom =
        gradients(m, [&] { return equilibrium(m.map(), m.start(), options, stats); });
    const double error = relative_error(phantom, implicit);
    EXPECT_LT(error, previous) << steps;
    previous = error;
  }
  EXPECT_LT(previous, 1e-3);
}

TEST(Deq, ParsesItsOptions) {
  DeqOptions options;
  parse_deq_gradient("phantom:5", "--lion-grad", options);
  EXPECT_EQ(options.gradient, DeqGradient::Phantom);
  EXPECT_EQ(options.phantom_steps, 5);
  EXPECT_EQ(deq_gradient_name(options), "phantom:5");
  EXPECT_THROW(parse_deq_gradient("phantom:0", "--lion-grad", options), UsageError);
  EXPECT_THROW(parse_deq_gradient("broyden", "--lion-grad", options), UsageError);
  EXPECT_EQ(parse_deq_solver("broyden", "--lion-solver"), DeqSolver::Broyden);
  EXPECT_EQ(deq_solver_name(DeqSolver::Broyden), "broyden");
  EXPECT_THROW(parse_deq_solver("newton", "--lion-solver"), UsageError);
}

}  // namespace
}  // namespace vpet::peft
