namespace Diffusion.Core.Schedulers;

/// <summary>diffusers' <c>algorithm_type</c> of the DPM-Solver schedulers.</summary>
internal enum DpmSolverAlgorithm
{
    /// <summary><c>dpmsolver++</c>: data-prediction ODE solver (DPM-Solver++).</summary>
    DpmSolverPlusPlus,

    /// <summary><c>sde-dpmsolver++</c>: data-prediction SDE solver, one noise draw per step.</summary>
    SdeDpmSolverPlusPlus,

    /// <summary><c>dpmsolver</c>: noise-prediction ODE solver (original DPM-Solver).</summary>
    DpmSolver,

    /// <summary><c>sde-dpmsolver</c>: noise-prediction SDE solver.</summary>
    SdeDpmSolver,
}
