// Deep-equilibrium (implicit) layers: the fixed point z* = f(z*) of a
// contractive map, found without building a graph, with a gradient that
// does not store the solver's iterations (LION, reference/lion-pgn-memory.md
// §3.2; the practice of locuslab/deq and torchdeq).
//
// Forward solvers: plain fixed-point iteration, Anderson acceleration
// (Walker & Ni: memory m, mixing β, a ridge λ relative to the largest
// squared residual in memory), or Broyden's method in the limited-memory
// form of the DEQ/MDEQ code (locuslab/deq lib/solvers.py, their default),
// from z⁰ = 0, until the relative residual ‖f(z) − z‖ / ‖f(z)‖ falls below
// the tolerance or the evaluations run out.
//
// Gradients:
//   ift         implicit differentiation: the output is f(z*) recomputed once
//               with the graph, and a hook replaces its incoming gradient g
//               by the solution v of v = Jᵀv + g (J = ∂f/∂z at z*), solved by
//               the same solver from vector-Jacobian products of one more
//               application of f. Exact at the fixed point; memory of one f.
//   phantom:K   K damped differentiable steps z ← (1−τ)z + τ f(z) from z*
//               (K = 1, τ = 1: Jacobian-free backprop). Tends to the
//               implicit gradient as K grows; memory of K applications.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace vpet::peft {

enum class DeqSolver { FixedPoint, Anderson, Broyden };
enum class DeqGradient { Ift, Phantom };

struct DeqOptions {
  DeqSolver solver = DeqSolver::Anderson;
  std::int64_t max_iter = 30;  // function evaluations of the forward solve
  double tol = 1e-3;           // relative residual
  std::int64_t anderson_memory = 5;
  double anderson_lambda = 1e-4;
  double anderson_beta = 1.0;
  DeqGradient gradient = DeqGradient::Ift;
  std::int64_t phantom_steps = 1;  // K
  double phantom_tau = 0.5;        // τ
  std::int64_t backward_max_iter = 40;
  double backward_tol = 1e-6;
};

// "fixed" / "anderson" / "broyden"; "ift" / "phantom:K". Throw vpet::UsageError naming `option`.
DeqSolver parse_deq_solver(const std::string& name, const std::string& option);
std::string deq_solver_name(DeqSolver solver);
void parse_deq_gradient(const std::string& text, const std::string& option, DeqOptions& options);
std::string deq_gradient_name(const DeqOptions& options);

// How a solve went: evaluations of f and the final relative residual.
struct SolveStats {
  std::int64_t evaluations = 0;
  double residual = 0.0;
  bool converged = false;
};

using FixedPointMap = std::function<torch::Tensor(const torch::Tensor&)>;

// z with z ≈ f(z), from `start`, without autograd. Each sample of the batch
// (dimension 0) is accelerated on its own; the residual is the batch's.
torch::Tensor solve_fixed_point(const FixedPointMap& f, const torch::Tensor& start,
                                DeqSolver solver, std::int64_t max_iter, double tol,
                                const DeqOptions& options, SolveStats& stats);

// The equilibrium of `f` (differentiable in its parameters and inputs) with
// the gradient `options` asks for when autograd is on; z* itself otherwise.
// `forward` is filled at once; `backward` when (if) the IFT backward runs.
struct DeqStats {
  SolveStats forward;
  std::shared_ptr<SolveStats> backward = std::make_shared<SolveStats>();
};
torch::Tensor equilibrium(const FixedPointMap& f, const torch::Tensor& start,
                          const DeqOptions& options, DeqStats& stats);

}  // namespace vpet::peft
