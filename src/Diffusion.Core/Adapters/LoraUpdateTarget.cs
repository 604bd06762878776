namespace Diffusion.Core.Adapters;

/// <summary>
/// Where one LoRA module's update goes: a weight, and the rows of the module's up factor that belong to it (all of them,
/// unless the module names a fused checkpoint layer that the model holds as several diffusers layers).
/// </summary>
/// <param name="Weight">The weight updated.</param>
/// <param name="FirstRow">The first row of the up factor that feeds this weight.</param>
/// <param name="RowCount">How many rows (the weight's output features).</param>
/// <param name="UpdateShiftFirst">The update's rows are (shift, scale), the checkpoint's order of a final modulation.</param>
internal readonly record struct LoraUpdateTarget(ModuleWeight Weight, long FirstRow, long RowCount, bool UpdateShiftFirst);
