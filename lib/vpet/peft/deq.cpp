#include "vpet/peft/deq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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

// Broyden's method on g(x) = f(x) − x as the MDEQ/DEQ code writes it
// (locuslab/deq, lib/solvers.py, broyden with ls=False, stop_mode "rel"):
// the inverse Jacobian of g is kept in limited-memory form, −I + Σₖ uₖ vₖᵀ
// (one pair per step, no dense n×n matrix), updated by "good" Broyden
// rank-one corrections; the first step is a plain fixed-point step. Per
// sample (dimension 0) like Anderson, the residual is the batch's. It
// returns the iterate of the lowest residual, and stops at the tolerance,
// when the last 30 steps have stalled within 30% below 3·tol, or when the
// residual grew 1000-fold over the first step's (MDEQ's protective break,
// whose factor is 1000 times the sequence length there). Memory: two
// [max_iter, n] buffers per sample.
torch::Tensor broyden(const FixedPointMap& f, const torch::Tensor& start, std::int64_t max_iter,
                      double tol, SolveStats& stats) {
  stats = {};
  const auto shape = start.sizes().vec();
  const std::int64_t batch = start.size(0), n = start.numel() / std::max<std::int64_t>(1, batch);
  const auto g = [&](const torch::Tensor& x) {
    ++stats.evaluations;
    return f(x.view(shape)).reshape({batch, n}) - x;
  };
  torch::Tensor x = start.reshape({batch, n});
  torch::Tensor gx = g(x);
  const auto residual_of = [&] { return relative_residual(x, gx + x); };
  torch::Tensor lowest_x = x;
  stats.residual = residual_of();
  const std::int64_t memory = std::max<std::int64_t>(1, max_iter);
  torch::Tensor us = torch::zeros({batch, memory, n}, start.options());
  torch::Tensor vs = torch::zeros({batch, memory, n}, start.options());
  std::int64_t stored = 0;
  // (−I + U Vᵀ) y and yᵀ(−I + U Vᵀ), per sample.
  const auto matvec = [&](const torch::Tensor& y) {
    if (stored == 0) return -y;
    const torch::Tensor u = us.narrow(1, 0, stored), v = vs.narrow(1, 0, stored);
    return -y + torch::bmm(u.transpose(1, 2), torch::bmm(v, y.unsqueeze(2))).squeeze(2);
  };
  const auto rmatvec = [&](const torch::Tensor& y) {
    if (stored == 0) return -y;
    const torch::Tensor u = us.narrow(1, 0, stored), v = vs.narrow(1, 0, stored);
    return -y + torch::bmm(v.transpose(1, 2), torch::bmm(u, y.unsqueeze(2))).squeeze(2);
  };
  torch::Tensor update = -matvec(gx);
  std::vector<double> trace;
  double lowest = std::numeric_limits<double>::infinity();
  while (stats.evaluations < max_iter) {
    const torch::Tensor previous_g = gx;
    x = x + update;
    gx = g(x);
    const double residual = residual_of();
    trace.push_back(residual);
    if (residual < lowest) {
      lowest = residual;
      lowest_x = x;
    }
    if (residual < tol) break;
    if (residual < 3.0 * tol && trace.size() > 30) {
      const auto [least, most] = std::minmax_element(trace.end() - 30, trace.end());
      if (*most / *least < 1.3) break;
    }
    if (residual > trace.front() * 1e3) break;
    const torch::Tensor delta_x = update, delta_g = gx - previous_g;
    const torch::Tensor v = rmatvec(delta_x);
    const torch::Tensor u = (delta_x - matvec(delta_g)) / (v * delta_g).sum(1, /*keepdim=*/true);
    // A zero denominator (no change in g) gives NaN; MDEQ zeroes those.
    us.select(1, stored).copy_(torch::nan_to_num(u, 0.0, 0.0, 0.0));
    vs.select(1, stored).copy_(torch::nan_to_num(v, 0.0, 0.0, 0.0));
    ++stored;
    update = -matvec(gx);
  }
  if (!trace.empty()) stats.residual = lowest;
  stats.converged = stats.residual < tol;
  return lowest_x.view(shape);
}

}  // namespace

DeqSolver parse_deq_solver(const std::string& name, const std::string& option) {
  if (name == "fixed") return DeqSolver::FixedPoint;
  if (name == "anderson") return DeqSolver::Anderson;
  if (name == "broyden") return DeqSolver::Broyden;
  throw UsageError(option + ": '" + name + "' is not fixed, anderson or broyden");
}

std::string deq_solver_name(DeqSolver solver) {
  switch (solver) {
    case DeqSolver::FixedPoint:
      return "fixed";
    case DeqSolver::Anderson:
      return "anderson";
    case DeqSolver::Broyden:
      break;
  }
  return "broyden";
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
  if (solver == DeqSolver::Broyden) return broyden(f, start, max_iter, tol, stats);
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
