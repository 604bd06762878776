namespace Diffusion.Core.Schedulers;

/// <summary>Which solver order each step of the single-step DPM-Solver takes (groups of 1, 2, 3 steps).</summary>
internal static class DpmSolverOrderList
{
    /// <summary>diffusers' <c>get_order_list</c>: the solver order of each step.</summary>
    public static int[] Build(int steps, int solverOrder, bool lowerOrderFinal, bool finalSigmaZero)
    {
        var orders = new List<int>(steps + 3);
        int order = solverOrder;
        if (lowerOrderFinal)
        {
            if (order == 3)
            {
                int groups = steps % 3 == 0 ? (steps / 3) - 1 : steps / 3;
                for (int i = 0; i < groups; i++)
                {
                    orders.AddRange([1, 2, 3]);
                }

                orders.AddRange((steps % 3) switch { 0 => [1, 2, 1], 1 => [1], _ => [1, 2] });
            }
            else if (order == 2)
            {
                int groups = steps % 2 == 0 ? (steps / 2) - 1 : steps / 2;
                for (int i = 0; i < groups; i++)
                {
                    orders.AddRange([1, 2]);
                }

                orders.AddRange(steps % 2 == 0 ? [1, 1] : [1]);
            }
            else
            {
                for (int i = 0; i < steps; i++)
                {
                    orders.Add(1);
                }
            }
        }
        else
        {
            for (int i = 0; i < steps / order; i++)
            {
                for (int k = 1; k <= order; k++)
                {
                    orders.Add(k);
                }
            }
        }

        if (finalSigmaZero && orders.Count > 0)
        {
            orders[^1] = 1;
        }

        return [.. orders];
    }
}
