#include "vpet/peft/deq.h"

#include <algorithm>
#include <cmath>

#include "vpet/error.h"

namespace vpet::peft {
namespace {

double relative_residual(const torch::Tensor& z, const torch::Tensor& fz) {
  return (fz - z).norm().item<double>() / (1e-12 + fz.norm().item<double>());
}

torch::Tensor iterate(const FixedPointMap& f, const torch::Tensor& start, std::int64_t max_iter,
                      double tol, SolveStats& stats) {
  torch::Tensor z = start;
  stats = {};
  while (stats.evaluations < max_iter) {
    const torch::Tensor fz = f(z);
    ++stats.evaluations;
    stats.residual = relative_residual(z, fz);
    z = fz;
    if (stats.residual < tol) break;
  }
  stats.converged = stats.residual < tol;
  return z;
}

// Anderson acceleration over the flattened samples [B, n]: the next iterate
// mixes the last m evaluations with weights α minimising ‖Σ αᵢ(f(xᵢ) − xᵢ)‖
// subject to Σ αᵢ = 1 (a bordered, ridge-regularised least squares).
torch::Tensor anderson(const FixedPointMap& f, const torch::Tensor& start, std::int64_t max_iter,
                       double tol, const DeqOptions& options, SolveStats& stats) {
  stats = {};
  const auto shape = start.sizes().vec();
  const std::int64_t batch = start.size(0), n = start.numel() / std::max<std::int64_t>(1, batch);
  const std::int64_t m = std::max<std::int64_t>(1, options.anderson_memory);
  const auto opts = start.options();
  torch::Tensor xs = torch::zeros({batch, m, n}, opts), fs = torch::zeros({batch, m, n}, opts);
  auto apply = [&](const torch::Tensor& x) {
    ++stats.evaluations;
    return f(x.view(shape)).reshape({batch, n});
  };
  torch::Tensor x = start.reshape({batch, n});
  torch::Tensor fx = apply(x);
  stats.residual = relative_residual(x, fx);
  xs.select(1, 0).copy_(x);
  fs.select(1, 0).copy_(fx);
  if (stats.residual < tol || stats.evaluations >= max_iter) {
    stats.converged = stats.residual < tol;
    return fx.view(shape);
  }
  x = fx;
  fx = apply(x);
  stats.residual = relative_residual(x, fx);
  xs.select(1, 1 % m).copy_(x);
  fs.select(1, 1 % m).copy_(fx);
  torch::Tensor result = x;
  std::int64_t k = 2;
  while (stats.residual >= tol && stats.evaluations < max_iter) {
    const std::int64_t used = std::min(k, m);
    const torch::Tensor g = fs.narrow(1, 0, used) - xs.narrow(1, 0, used);  // [B, used, n]
    torch::Tensor h = torch::zeros({batch, used + 1, used + 1}, opts);
    h.narrow(1, 0, 1).narrow(2, 1, used).fill_(1.0);
    h.narrow(1, 1, used).narrow(2, 0, 1).fill_(1.0);
    // The ridge is relative to the residuals' scale, so that it regularises
    // as much on small residuals (late iterations, small states) as on large.
    const torch::Tensor gram = torch::bmm(g, g.transpose(1, 2));
    const torch::Tensor scale = std::get<0>(gram.diagonal(0, 1, 2).max(1)).view({batch, 1, 1});
    h.narrow(1, 1, used)
        .narrow(2, 1, used)
        .copy_(gram +
               options.anderson_lambda * (scale + 1e-30) * torch::eye(used, opts).unsqueeze(0));
    torch::Tensor y = torch::zeros({batch, used + 1, 1}, opts);
    y.narrow(1, 0, 1).fill_(1.0);
    const torch::Tensor alpha = torch::linalg_solve(h, y).narrow(1, 1, used);  // [B, used, 1]
    const double beta = options.anderson_beta;
    x = beta * (alpha * fs.narrow(1, 0, used)).sum(1) +
        (1.0 - beta) * (alpha * xs.narrow(1, 0, used)).sum(1);
    fx = apply(x);
    stats.residual = relative_residual(x, fx);
    xs.select(1, k % m).copy_(x);
    fs.select(1, k % m).copy_(fx);
    result = x;
    ++k;
  }
  stats.converged = stats.residual < tol;
  return result.view(shape);
}

}  // namespace

DeqSolver parse_deq_solver(const std::string& name, const std::string& option) {
  if (name == "fixed") return DeqSolver::FixedPoint;
  if (name == "anderson") return DeqSolver::Anderson;
  throw UsageError(option + ": '" + name + "' is not fixed or anderson");
}

std::string deq_solver_name(DeqSolver solver) {
  return solver == DeqSolver::FixedPoint ? "fixed" : "anderson";
}

void parse_deq_gradient(const std::string& text, const std::string& option, DeqOptions& options) {
  if (text == "ift") {
    options.gradient = DeqGradient::Ift;
    return;
  }
  const std::string prefix = "phantom:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string count = text.substr(prefix.size());
    std::size_t used = 0;
    long long steps = 0;
    try {
      steps = std::stoll(count, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (!count.empty() && used == count.size() && steps >= 1 && steps <= 1000) {
      options.gradient = DeqGradient::Phantom;
      options.phantom_steps = steps;
      return;
    }
  }
  throw UsageError(option + ": '" + text + "' is not ift or phantom:K (K = 1..1000)");
}

std::string deq_gradient_name(const DeqOptions& options) {
  return options.gradient == DeqGradient::Ift ? "ift"
                                              : "phantom:" + std::to_string(options.phantom_steps);
}

torch::Tensor solve_fixed_point(const FixedPointMap& f, const torch::Tensor& start,
                                DeqSolver solver, std::int64_t max_iter, double tol,
                                const DeqOptions& options, SolveStats& stats) {
  torch::NoGradGuard no_grad;
  if (solver == DeqSolver::Anderson) return anderson(f, start, max_iter, tol, options, stats);
  return iterate(f, start, max_iter, tol, stats);
}

torch::Tensor equilibrium(const FixedPointMap& layer, const torch::Tensor& layer_start,
                          const DeqOptions& options, DeqStats& stats) {
  // The iterates and the solvers' algebra stay at least fp32 even when the
  // layer runs under bf16 autocast: Anderson's small least-squares systems
  // and the residual tolerance need fp32's mantissa (and bf16 has no eye()).
  const c10::ScalarType dtype = c10::promoteTypes(torch::kFloat32, layer_start.scalar_type());
  const FixedPointMap f = [&layer, dtype](const torch::Tensor& z) { return layer(z).to(dtype); };
  const torch::Tensor start = layer_start.to(dtype);
  const torch::Tensor fixed = solve_fixed_point(f, start, options.solver, options.max_iter,
                                                options.tol, options, stats.forward);
  if (!torch::GradMode::is_enabled()) return fixed;
  if (options.gradient == DeqGradient::Phantom) {
    torch::Tensor z = fixed;
    for (std::int64_t k = 0; k < options.phantom_steps; ++k) {
      z = (1.0 - options.phantom_tau) * z + options.phantom_tau * f(z);
    }
    return z;
  }
  // One application with the graph: gradients reach f's parameters and
  // inputs through it; the hook turns g into (I − Jᵀ)⁻¹ g first.
  torch::Tensor out = f(fixed);
  if (!out.requires_grad()) return out;
  const torch::Tensor at = fixed.detach().requires_grad_(true);
  const torch::Tensor applied = f(at);
  const DeqOptions solve_options = options;
  const std::shared_ptr<SolveStats> backward = stats.backward;
  out.register_hook([at, applied, solve_options, backward](const torch::Tensor& g) {
    const FixedPointMap adjoint = [&](const torch::Tensor& v) {
      torch::AutoGradMode enable(true);
      const torch::Tensor vjp =
          torch::autograd::grad({applied}, {at}, {v}, /*retain_graph=*/true)[0];
      return vjp + g;
    };
    return solve_fixed_point(adjoint, g, solve_options.solver, solve_options.backward_max_iter,
                             solve_options.backward_tol, solve_options, *backward);
  });
  return out;
}

}  // namespace vpet::peft
