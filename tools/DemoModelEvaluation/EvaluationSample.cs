using Diffusion.Core.Imaging;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>One generated image, what the analyser read from it, and what its prompt asked for.</summary>
/// <param name="Prompt">The evaluation prompt.</param>
/// <param name="Image">The generated image (at the generation size).</param>
/// <param name="Reading">The analyser's reading (of the image scaled to 64×64 when generated larger).</param>
public sealed record EvaluationSample(EvaluationPrompt Prompt, ImageBuffer Image, SceneReading Reading)
{
    /// <summary>True when the analyser read the value the caption states.</summary>
    public bool IsCorrect(SceneAttribute attribute) => Reading.Attributes.Get(attribute) == Prompt.Expected.Get(attribute);

    /// <summary>True when every attribute was read as the caption states.</summary>
    public bool IsAllCorrect
    {
        get
        {
            foreach (SceneAttribute attribute in SceneAttributes.All)
            {
                if (!IsCorrect(attribute))
                    return false;
            }
            return true;
        }
    }
}
