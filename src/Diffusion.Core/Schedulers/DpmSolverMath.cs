using System.Numerics.Tensors;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// The pieces of DPM-Solver math diffusers repeats (as <c># Copied from</c>) in its multistep and singlestep
/// DPM-Solver schedulers: σ → (α_t, σ_t), the log-SNR λ, model-output conversion and the first-order update.
/// Scalars are float32 operations in diffusers' order (torch 0-d float32 tensors); element-wise expressions
/// keep torch's evaluation order so results match to float32 rounding. Element-wise loops are TensorPrimitives
/// calls, one per scalar operation (products and sums rounded separately, never fused), so they give the same bits
/// as the scalar expressions; <c>temp</c> parameters are caller-owned scratch buffers of the sample's length.
/// </summary>
internal static class DpmSolverMath
{
    /// <summary>Parses <c>algorithm_type</c> (<c>deis</c> is read as <c>dpmsolver++</c>, as diffusers does).</summary>
    internal static DpmSolverAlgorithm ParseAlgorithm(string algorithmType, bool allowSdeDpmSolver) => algorithmType switch
    {
        "dpmsolver++" or "deis" => DpmSolverAlgorithm.DpmSolverPlusPlus,
        "sde-dpmsolver++" => DpmSolverAlgorithm.SdeDpmSolverPlusPlus,
        "dpmsolver" => DpmSolverAlgorithm.DpmSolver,
        "sde-dpmsolver" when allowSdeDpmSolver => DpmSolverAlgorithm.SdeDpmSolver,
        _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": algorithm_type",
            $"'{algorithmType}' is not supported; expected one of dpmsolver++, sde-dpmsolver++, dpmsolver{(allowSdeDpmSolver ? ", sde-dpmsolver" : string.Empty)}."),
    };

    /// <summary>Parses <c>solver_type</c>: true for <c>heun</c>; <c>logrho</c>, <c>bh1</c>, <c>bh2</c> read as <c>midpoint</c>, as diffusers does.</summary>
    internal static bool ParseHeun(string solverType) => solverType switch
    {
        "heun" => true,
        "midpoint" or "logrho" or "bh1" or "bh2" => false,
        _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": solver_type", $"'{solverType}' is not supported; expected midpoint or heun."),
    };

    /// <summary>Parses <c>final_sigmas_type</c> (null = diffusers' default <c>zero</c>): true for zero.</summary>
    internal static bool ParseFinalSigmaZero(string? finalSigmasType, DpmSolverAlgorithm algorithm)
    {
        bool zero = (finalSigmasType ?? "zero") switch
        {
            "zero" => true,
            "sigma_min" => false,
            _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": final_sigmas_type", $"'{finalSigmasType}' is not supported; expected zero or sigma_min."),
        };
        if (zero && algorithm is DpmSolverAlgorithm.DpmSolver or DpmSolverAlgorithm.SdeDpmSolver)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": final_sigmas_type",
                "'zero' is not supported with algorithm_type dpmsolver / sde-dpmsolver; use sigma_min.");
        }

        return zero;
    }

    /// <summary>True for the algorithms that draw noise each step.</summary>
    internal static bool IsStochastic(DpmSolverAlgorithm algorithm)
        => algorithm is DpmSolverAlgorithm.SdeDpmSolverPlusPlus or DpmSolverAlgorithm.SdeDpmSolver;

    /// <summary>True for the data-prediction (++) algorithms.</summary>
    internal static bool PredictsData(DpmSolverAlgorithm algorithm)
        => algorithm is DpmSolverAlgorithm.DpmSolverPlusPlus or DpmSolverAlgorithm.SdeDpmSolverPlusPlus;

    /// <summary>diffusers' <c>_sigma_to_alpha_sigma_t</c>: α_t = 1/√(σ²+1), σ_t = σ·α_t, in float32.</summary>
    internal static (float Alpha, float Sigma) AlphaSigma(float sigma)
    {
        float alpha = 1f / MathF.Sqrt((sigma * sigma) + 1f);
        return (alpha, sigma * alpha);
    }

    /// <summary>
    /// diffusers' <c>add_noise</c> of the DPM-Solver family: α_t·x0 + σ_t·ε at raw sigma <paramref name="sigma"/>, each
    /// product rounded to float32 before the sum; element by element, so the destination may alias either input.
    /// </summary>
    internal static void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, float sigma, Span<float> destination)
    {
        (float alpha, float sigmaT) = AlphaSigma(sigma);
        for (int i = 0; i < destination.Length; i++)
            destination[i] = (alpha * originalSample[i]) + (sigmaT * noise[i]);
    }

    /// <summary>λ = log α_t - log σ_t (float32; +∞ at σ = 0).</summary>
    internal static float Lambda(float alpha, float sigma) => MathF.Log(alpha) - MathF.Log(sigma);

    /// <summary>The model output as a data prediction x0 (the ++ algorithms' <c>convert_model_output</c>, before thresholding).</summary>
    internal static void ToData(string predictionType, ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float alphaT, float sigmaT, Span<float> destination, Span<float> temp)
    {
        switch (predictionType)
        {
            case "epsilon":
                NoiseToData(sample, modelOutput, alphaT, sigmaT, destination);
                break;
            case "v_prediction":
                // (α_t·x) − (σ_t·v)
                TensorPrimitives.Multiply(modelOutput, sigmaT, temp);
                TensorPrimitives.Multiply(sample, alphaT, destination);
                TensorPrimitives.Subtract(destination, temp, destination);

                break;
            default:
                modelOutput.CopyTo(destination);
                break;
        }
    }

    /// <summary>The model output as a noise prediction ε (the dpmsolver algorithms' <c>convert_model_output</c>, before thresholding).</summary>
    internal static void ToNoise(string predictionType, ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float alphaT, float sigmaT, Span<float> destination, Span<float> temp)
    {
        switch (predictionType)
        {
            case "epsilon":
                modelOutput.CopyTo(destination);
                break;
            case "v_prediction":
                // (α_t·v) + (σ_t·x)
                TensorPrimitives.Multiply(sample, sigmaT, temp);
                TensorPrimitives.Multiply(modelOutput, alphaT, destination);
                TensorPrimitives.Add(destination, temp, destination);

                break;
            default:
                DataToNoise(sample, modelOutput, alphaT, sigmaT, destination);
                break;
        }
    }

    /// <summary>x0 = (x - σ_t·ε)/α_t; <paramref name="destination"/> may alias <paramref name="epsilon"/>.</summary>
    internal static void NoiseToData(ReadOnlySpan<float> sample, ReadOnlySpan<float> epsilon, float alphaT, float sigmaT, Span<float> destination)
    {
        TensorPrimitives.Multiply(epsilon, sigmaT, destination);
        TensorPrimitives.Subtract(sample, destination, destination);
        TensorPrimitives.Divide(destination, alphaT, destination);
    }

    /// <summary>ε = (x - α_t·x0)/σ_t; <paramref name="destination"/> may alias <paramref name="data"/>.</summary>
    internal static void DataToNoise(ReadOnlySpan<float> sample, ReadOnlySpan<float> data, float alphaT, float sigmaT, Span<float> destination)
    {
        TensorPrimitives.Multiply(data, alphaT, destination);
        TensorPrimitives.Subtract(sample, destination, destination);
        TensorPrimitives.Divide(destination, sigmaT, destination);
    }

    /// <summary>
    /// diffusers' <c>dpm_solver_first_order_update</c> from σ_s to σ_t (raw sigmas), in place on
    /// <paramref name="sample"/>: the DDIM-like step of each algorithm; <paramref name="noise"/> is read only by the SDE ones.
    /// </summary>
    internal static void FirstOrderUpdate(DpmSolverAlgorithm algorithm, float sigmaNext, float sigmaCurrent, ReadOnlySpan<float> m, Span<float> sample, ReadOnlySpan<float> noise, Span<float> temp)
    {
        (float alphaT, float sigmaT) = AlphaSigma(sigmaNext);
        (float alphaS, float sigmaS) = AlphaSigma(sigmaCurrent);
        float h = Lambda(alphaT, sigmaT) - Lambda(alphaS, sigmaS);
        switch (algorithm)
        {
            case DpmSolverAlgorithm.DpmSolverPlusPlus:
            {
                float a = sigmaT / sigmaS;
                float b = alphaT * (MathF.Exp(-h) - 1f);
                TensorPrimitives.Multiply(sample, a, sample);
                TensorPrimitives.Multiply(m, b, temp);
                TensorPrimitives.Subtract(sample, temp, sample);

                break;
            }

            case DpmSolverAlgorithm.DpmSolver:
            {
                float a = alphaT / alphaS;
                float b = sigmaT * (MathF.Exp(h) - 1f);
                TensorPrimitives.Multiply(sample, a, sample);
                TensorPrimitives.Multiply(m, b, temp);
                TensorPrimitives.Subtract(sample, temp, sample);

                break;
            }

            case DpmSolverAlgorithm.SdeDpmSolverPlusPlus:
            {
                float a = sigmaT / sigmaS * MathF.Exp(-h);
                float b = alphaT * (1f - MathF.Exp(-2f * h));
                float c = sigmaT * MathF.Sqrt(1f - MathF.Exp(-2f * h));
                // ((a·x) + (b·m)) + (c·noise)
                TensorPrimitives.Multiply(sample, a, sample);
                TensorPrimitives.Multiply(m, b, temp);
                TensorPrimitives.Add(sample, temp, sample);
                TensorPrimitives.Multiply(noise, c, temp);
                TensorPrimitives.Add(sample, temp, sample);

                break;
            }

            default:
            {
                float a = alphaT / alphaS;
                float b = 2f * (sigmaT * (MathF.Exp(h) - 1f));
                float c = sigmaT * MathF.Sqrt(MathF.Exp(2f * h) - 1f);
                // ((a·x) − (b·m)) + (c·noise)
                TensorPrimitives.Multiply(sample, a, sample);
                TensorPrimitives.Multiply(m, b, temp);
                TensorPrimitives.Subtract(sample, temp, sample);
                TensorPrimitives.Multiply(noise, c, temp);
                TensorPrimitives.Add(sample, temp, sample);

                break;
            }
        }
    }
}
