// The equilibrium solvers and gradients on a small contractive map
// f(z) = tanh(z Wᵀ + x Uᵀ + b), ‖W‖₂ = 0.6, in double precision.
#include <gtest/gtest.h>

#include "vpet/error.h"
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
  for (DeqSolver solver : {DeqSolver::FixedPoint, DeqSolver::Anderson}) {
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
  EXPECT_THROW(parse_deq_solver("broyden", "--lion-solver"), UsageError);
}

}  // namespace
}  // namespace vpet::peft
